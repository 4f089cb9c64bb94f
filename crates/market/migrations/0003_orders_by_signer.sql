-- Open orders are counted per signer as they are published (a cap per signer).
CREATE INDEX IF NOT EXISTS orders_of_signer ON orders (signer, kind, status);
