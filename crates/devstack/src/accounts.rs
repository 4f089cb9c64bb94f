//! The well-known dev accounts: anvil's default mnemonic ("test test … junk"), so every
//! Ethereum tool already knows them. Their keys are public: dev chains only.

/// The password of the dev keystores `confide dev up` writes.
pub const DEV_PASSWORD: &str = "confide-dev";

/// One dev account and the role the demo gives it.
#[derive(Clone, Copy, Debug)]
pub struct DevAccount {
    /// What the demo uses it for, such as `deployer` or `worker-1`: its name in `stack.json`
    /// and `dev status`.
    pub role: &'static str,
    /// Its secp256k1 private key, `0x` and 64 hex digits (public: anvil's mnemonic).
    pub private_key: &'static str,
}

impl DevAccount {
    /// A signer holding this account's key, for chain clients and keystores.
    pub fn signer(&self) -> confide_chain::PrivateKeySigner {
        self.private_key.parse().expect("dev keys are valid")
    }
}

/// Anvil's first ten accounts (BIP-44 path m/44'/60'/0'/0/i), each funded with 10,000 ETH.
pub const DEV_ACCOUNTS: [DevAccount; 10] = [
    DevAccount {
        role: "deployer",
        private_key: "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    },
    DevAccount {
        role: "dataset-owner",
        private_key: "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    },
    DevAccount {
        role: "app-developer",
        private_key: "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
    },
    DevAccount {
        role: "workerpool-owner",
        private_key: "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
    },
    DevAccount {
        role: "requester",
        private_key: "0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a",
    },
    DevAccount {
        role: "worker-1",
        private_key: "0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba",
    },
    DevAccount {
        role: "worker-2",
        private_key: "0x92db14e403b83dfe3df233f83dfa3a0d7096f21ca9b0d6d6b8d88b2b4ec1564e",
    },
    DevAccount {
        role: "worker-3",
        private_key: "0x4bbbf85ce3377467afe5d46f804f221813b2bb87f24d81f60f1fcdbf7cbf4356",
    },
    DevAccount {
        role: "worker-4",
        private_key: "0xdbda1821b80551c9d65939329250298aa3472ba22feea921c0cf5d620ea67b97",
    },
    DevAccount {
        role: "spare",
        private_key: "0x2a871d0798f97d79848a013d4936a73bf4cc922c825d33c1cf7073dff6d409c6",
    },
];

/// The account by role.
pub fn by_role(role: &str) -> Option<&'static DevAccount> {
    DEV_ACCOUNTS.iter().find(|account| account.role == role)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dev_keys_are_anvils_default_accounts() {
        let addresses: Vec<String> = DEV_ACCOUNTS.iter().map(|a| a.signer().address().to_string()).collect();
        assert_eq!(addresses[0], "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266");
        assert_eq!(addresses[1], "0x70997970C51812dc3A010C7d01b50e0d17dc79C8");
        assert_eq!(addresses[9], "0xa0Ee7A142d267C1f36714E4a8F75612F20a79720");
    }
}
