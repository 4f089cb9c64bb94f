//! The four PoCo orders, in iExec's JSON shape and with their EIP-712 hashes.
//!
//! JSON follows iExec's SDK (`orders.json`, `--raw` output, market API): amounts, volumes,
//! categories and trust as decimal strings (numbers are read too), tags and salts as hex,
//! `sign` as 65-byte hex. The signature is not part of the hashed struct.

use alloy_primitives::{Address, B256, Bytes, U256, keccak256};
use alloy_signer::SignerSync;
use alloy_sol_types::SolStruct;
use serde::{Deserialize, Serialize};

use crate::amount::decimal;
use crate::{Domain, Error, Tag};

/// EIP-712 structs exactly as `IexecLibOrders_v5` declares them.
pub mod eip712 {
    alloy_sol_types::sol! {
        struct AppOrder {
            address app;
            uint256 appprice;
            uint256 volume;
            bytes32 tag;
            address datasetrestrict;
            address workerpoolrestrict;
            address requesterrestrict;
            bytes32 salt;
        }
        struct DatasetOrder {
            address dataset;
            uint256 datasetprice;
            uint256 volume;
            bytes32 tag;
            address apprestrict;
            address workerpoolrestrict;
            address requesterrestrict;
            bytes32 salt;
        }
        struct WorkerpoolOrder {
            address workerpool;
            uint256 workerpoolprice;
            uint256 volume;
            bytes32 tag;
            uint256 category;
            uint256 trust;
            address apprestrict;
            address datasetrestrict;
            address requesterrestrict;
            bytes32 salt;
        }
        struct RequestOrder {
            address app;
            uint256 appmaxprice;
            address dataset;
            uint256 datasetmaxprice;
            address workerpool;
            uint256 workerpoolmaxprice;
            address requester;
            uint256 volume;
            bytes32 tag;
            uint256 category;
            uint256 trust;
            address beneficiary;
            address callback;
            string params;
            bytes32 salt;
        }
        struct AppOrderOperation { AppOrder order; uint256 operation; }
        struct DatasetOrderOperation { DatasetOrder order; uint256 operation; }
        struct WorkerpoolOrderOperation { WorkerpoolOrder order; uint256 operation; }
        struct RequestOrderOperation { RequestOrder order; uint256 operation; }
    }
}

/// Which of the four orders.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OrderKind {
    /// An app owner's offer of an app ([`AppOrder`]).
    App,
    /// A dataset owner's offer of a dataset ([`DatasetOrder`]).
    Dataset,
    /// A workerpool owner's offer of computing ([`WorkerpoolOrder`]).
    Workerpool,
    /// A requester's demand for tasks ([`RequestOrder`]).
    Request,
}

impl OrderKind {
    /// The four kinds, in the order iExec lists them.
    pub const ALL: [OrderKind; 4] = [
        OrderKind::App,
        OrderKind::Dataset,
        OrderKind::Workerpool,
        OrderKind::Request,
    ];

    /// The key iExec uses in `orders.json` and `iexec.json`: `apporder`, `datasetorder`, …
    pub fn json_key(self) -> &'static str {
        match self {
            OrderKind::App => "apporder",
            OrderKind::Dataset => "datasetorder",
            OrderKind::Workerpool => "workerpoolorder",
            OrderKind::Request => "requestorder",
        }
    }
}

/// On-chain operations on an order (`manage*Order`): presign or close.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OrderOperation {
    /// Presigns the order on chain: PoCo then accepts it without an off-chain signature.
    Sign = 0,
    /// Closes the order: PoCo counts its whole volume as consumed, so no deal can use it.
    Close = 1,
}

/// Behaviour shared by the four orders.
pub trait Order: Clone {
    /// Which of the four orders this is.
    const KIND: OrderKind;

    /// The EIP-712 struct hash (`hashStruct`), without the domain.
    fn struct_hash(&self) -> B256;
    /// The EIP-712 hash of `{order, operation}` for signed `manage*Order` calls.
    fn operation_hash(&self, operation: OrderOperation, domain: &Domain) -> B256;
    /// Its `salt` field, to draw a new one into.
    fn salt_mut(&mut self) -> &mut B256;
    /// Its `sign` field: the owner's signature, empty when unsigned.
    fn sign_field(&self) -> &Bytes;
    /// Its `sign` field, to write a signature into.
    fn sign_field_mut(&mut self) -> &mut Bytes;
    /// The asset the order sells, or the requester for request orders.
    fn subject(&self) -> Address;
    /// How many tasks the order may serve.
    fn volume(&self) -> U256;

    /// The digest PoCo recovers the signer from: `keccak256(0x1901 ‖ separator ‖ hashStruct)`.
    /// This is also the order's identifier (its "order hash").
    fn hash(&self, domain: &Domain) -> B256 {
        typed_data_digest(self.struct_hash(), domain)
    }

    /// Draws a fresh random salt, so two otherwise equal orders get distinct hashes.
    fn refresh_salt(&mut self) {
        *self.salt_mut() = B256::random();
    }

    /// Signs the order in place with EIP-712.
    fn sign(&mut self, signer: &impl SignerSync, domain: &Domain) -> Result<(), Error> {
        let signature = signer.sign_hash_sync(&self.hash(domain))?;
        *self.sign_field_mut() = Bytes::from(signature.as_bytes().to_vec());
        Ok(())
    }

    /// The address that signed this order, if its signature is a well-formed ECDSA one.
    fn recover_signer(&self, domain: &Domain) -> Option<Address> {
        // An order the chain would refuse (a non-canonical signature) is refused here too.
        let signature = crate::messages::canonical_signature(self.sign_field())?;
        crate::messages::recover_prehash(&signature, &self.hash(domain))
    }
}

/// `keccak256(0x1901 ‖ domainSeparator ‖ structHash)`.
pub fn typed_data_digest(struct_hash: B256, domain: &Domain) -> B256 {
    let mut packed = [0u8; 66];
    packed[..2].copy_from_slice(&[0x19, 0x01]);
    packed[2..34].copy_from_slice(domain.separator().as_slice());
    packed[34..].copy_from_slice(struct_hash.as_slice());
    keccak256(packed)
}

fn is_empty(bytes: &Bytes) -> bool {
    bytes.is_empty()
}

/// An app owner's offer of an app: its price per task, how many tasks, and who may use it.
/// Signed by the app's owner.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppOrder {
    /// The app's address in PoCo's app registry.
    pub app: Address,
    /// The price per task paid to the app's owner, nRLC.
    #[serde(with = "decimal")]
    pub appprice: U256,
    /// How many tasks the order may serve.
    #[serde(with = "decimal")]
    pub volume: U256,
    /// The TEE and GPU bits the app requires (a TEE app sets `tee` and its framework).
    pub tag: Tag,
    /// The only dataset the app may run on, or zero for any.
    #[serde(default)]
    pub datasetrestrict: Address,
    /// The only workerpool that may run the app, or zero for any.
    #[serde(default)]
    pub workerpoolrestrict: Address,
    /// The only requester the order serves, or zero for anyone.
    #[serde(default)]
    pub requesterrestrict: Address,
    /// Random 32 bytes that make the order's hash unique ([`Order::refresh_salt`]).
    #[serde(default)]
    pub salt: B256,
    /// The app owner's EIP-712 signature, 65 bytes `r ‖ s ‖ v`; empty, and left out of the
    /// JSON, until the order is signed.
    #[serde(default, skip_serializing_if = "is_empty")]
    pub sign: Bytes,
}

/// A dataset owner's offer of a dataset: its price per task, how many tasks, and who may use
/// it. Signed by the dataset's owner.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatasetOrder {
    /// The dataset's address in PoCo's dataset registry.
    pub dataset: Address,
    /// The price per task paid to the dataset's owner, nRLC.
    #[serde(with = "decimal")]
    pub datasetprice: U256,
    /// How many tasks the order may serve.
    #[serde(with = "decimal")]
    pub volume: U256,
    /// The TEE and GPU bits the dataset requires (`tee`: only enclaves may read it).
    pub tag: Tag,
    /// The only app that may use the dataset, or zero for any.
    #[serde(default)]
    pub apprestrict: Address,
    /// The only workerpool that may run tasks on the dataset, or zero for any.
    #[serde(default)]
    pub workerpoolrestrict: Address,
    /// The only requester the order serves, or zero for anyone.
    #[serde(default)]
    pub requesterrestrict: Address,
    /// Random 32 bytes that make the order's hash unique ([`Order::refresh_salt`]).
    #[serde(default)]
    pub salt: B256,
    /// The dataset owner's EIP-712 signature, 65 bytes `r ‖ s ‖ v`; empty, and left out of the
    /// JSON, until the order is signed.
    #[serde(default, skip_serializing_if = "is_empty")]
    pub sign: Bytes,
}

/// A workerpool owner's offer of computing: how many tasks at what price, in which category,
/// with which guarantees (tag, trust). Signed by the workerpool's owner.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerpoolOrder {
    /// The workerpool's address in PoCo's workerpool registry.
    pub workerpool: Address,
    /// The price per task paid to the workerpool, nRLC.
    #[serde(with = "decimal")]
    pub workerpoolprice: U256,
    /// How many tasks the order may serve.
    #[serde(with = "decimal")]
    pub volume: U256,
    /// The TEE and GPU bits the pool's workers offer; it must cover the deal's tag.
    pub tag: Tag,
    /// The pool's category, an index in PoCo's category registry; a request must name the same.
    #[serde(with = "decimal")]
    pub category: U256,
    /// The highest trust the pool serves: a request asking for more does not match.
    #[serde(with = "decimal")]
    pub trust: U256,
    /// The only app the order serves, or zero for any.
    #[serde(default)]
    pub apprestrict: Address,
    /// The only dataset the order serves, or zero for any.
    #[serde(default)]
    pub datasetrestrict: Address,
    /// The only requester the order serves, or zero for anyone.
    #[serde(default)]
    pub requesterrestrict: Address,
    /// Random 32 bytes that make the order's hash unique ([`Order::refresh_salt`]).
    #[serde(default)]
    pub salt: B256,
    /// The workerpool owner's EIP-712 signature, 65 bytes `r ‖ s ‖ v`; empty, and left out of
    /// the JSON, until the order is signed.
    #[serde(default, skip_serializing_if = "is_empty")]
    pub sign: Bytes,
}

/// A requester's demand: which app to run (on which dataset and workerpool, each with the most
/// it pays), how many tasks, and for whom. Signed by the requester.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestOrder {
    /// The app to run: its address in PoCo's app registry.
    pub app: Address,
    /// The most the requester pays the app's owner per task, nRLC.
    #[serde(with = "decimal")]
    pub appmaxprice: U256,
    /// The dataset to run the app on, or zero for none.
    #[serde(default)]
    pub dataset: Address,
    /// The most the requester pays the dataset's owner per task, nRLC; zero for no dataset.
    #[serde(with = "decimal", default)]
    pub datasetmaxprice: U256,
    /// The workerpool the tasks must run on, or zero for any.
    #[serde(default)]
    pub workerpool: Address,
    /// The most the requester pays the workerpool per task, nRLC.
    #[serde(with = "decimal")]
    pub workerpoolmaxprice: U256,
    /// The requester: pays for the tasks and signs the order.
    pub requester: Address,
    /// How many tasks the order may serve; they may be matched over several deals.
    #[serde(with = "decimal")]
    pub volume: U256,
    /// Required TEE and GPU bits; the deal's tag is their union with the app's and dataset's.
    pub tag: Tag,
    /// The tasks' category, an index in PoCo's category registry; it sets their reference time.
    #[serde(with = "decimal")]
    pub category: U256,
    /// The trust asked for: 0 or 1 takes one worker's result; a higher value makes PoCo's
    /// consensus want more agreeing workers.
    #[serde(with = "decimal")]
    pub trust: U256,
    /// The address the results are for: with `iexec_result_encryption` they are encrypted to
    /// the key it pushed to the SMS.
    #[serde(default)]
    pub beneficiary: Address,
    /// A contract PoCo calls with each completed task's result, or zero for none.
    #[serde(default)]
    pub callback: Address,
    /// iExec's params: a JSON object of arguments, input files, secrets and result settings
    /// ([`crate::tee::DealParams`]), or a bare argument line.
    #[serde(default)]
    pub params: String,
    /// Random 32 bytes that make the order's hash unique ([`Order::refresh_salt`]).
    #[serde(default)]
    pub salt: B256,
    /// The requester's EIP-712 signature, 65 bytes `r ‖ s ‖ v`; empty, and left out of the
    /// JSON, until the order is signed.
    #[serde(default, skip_serializing_if = "is_empty")]
    pub sign: Bytes,
}

impl AppOrder {
    /// The order as PoCo's EIP-712 `AppOrder` struct: every field but the signature.
    pub fn to_eip712(&self) -> eip712::AppOrder {
        eip712::AppOrder {
            app: self.app,
            appprice: self.appprice,
            volume: self.volume,
            tag: self.tag.0,
            datasetrestrict: self.datasetrestrict,
            workerpoolrestrict: self.workerpoolrestrict,
            requesterrestrict: self.requesterrestrict,
            salt: self.salt,
        }
    }
}

impl DatasetOrder {
    /// The order as PoCo's EIP-712 `DatasetOrder` struct: every field but the signature.
    pub fn to_eip712(&self) -> eip712::DatasetOrder {
        eip712::DatasetOrder {
            dataset: self.dataset,
            datasetprice: self.datasetprice,
            volume: self.volume,
            tag: self.tag.0,
            apprestrict: self.apprestrict,
            workerpoolrestrict: self.workerpoolrestrict,
            requesterrestrict: self.requesterrestrict,
            salt: self.salt,
        }
    }
}

impl WorkerpoolOrder {
    /// The order as PoCo's EIP-712 `WorkerpoolOrder` struct: every field but the signature.
    pub fn to_eip712(&self) -> eip712::WorkerpoolOrder {
        eip712::WorkerpoolOrder {
            workerpool: self.workerpool,
            workerpoolprice: self.workerpoolprice,
            volume: self.volume,
            tag: self.tag.0,
            category: self.category,
            trust: self.trust,
            apprestrict: self.apprestrict,
            datasetrestrict: self.datasetrestrict,
            requesterrestrict: self.requesterrestrict,
            salt: self.salt,
        }
    }
}

impl RequestOrder {
    /// The order as PoCo's EIP-712 `RequestOrder` struct: every field but the signature.
    pub fn to_eip712(&self) -> eip712::RequestOrder {
        eip712::RequestOrder {
            app: self.app,
            appmaxprice: self.appmaxprice,
            dataset: self.dataset,
            datasetmaxprice: self.datasetmaxprice,
            workerpool: self.workerpool,
            workerpoolmaxprice: self.workerpoolmaxprice,
            requester: self.requester,
            volume: self.volume,
            tag: self.tag.0,
            category: self.category,
            trust: self.trust,
            beneficiary: self.beneficiary,
            callback: self.callback,
            params: self.params.clone(),
            salt: self.salt,
        }
    }
}

/// Implements [`Order`] for one order type; the four differ only in names.
macro_rules! impl_order {
    ($order:ty, $kind:expr, $operation:ident, $subject:ident) => {
        impl Order for $order {
            const KIND: OrderKind = $kind;

            fn struct_hash(&self) -> B256 {
                self.to_eip712().eip712_hash_struct()
            }

            fn operation_hash(&self, operation: OrderOperation, domain: &Domain) -> B256 {
                let op = eip712::$operation {
                    order: self.to_eip712(),
                    operation: U256::from(operation as u8),
                };
                typed_data_digest(op.eip712_hash_struct(), domain)
            }

            fn salt_mut(&mut self) -> &mut B256 {
                &mut self.salt
            }

            fn sign_field(&self) -> &Bytes {
                &self.sign
            }

            fn sign_field_mut(&mut self) -> &mut Bytes {
                &mut self.sign
            }

            fn subject(&self) -> Address {
                self.$subject
            }

            fn volume(&self) -> U256 {
                self.volume
            }
        }
    };
}

impl_order!(AppOrder, OrderKind::App, AppOrderOperation, app);
impl_order!(DatasetOrder, OrderKind::Dataset, DatasetOrderOperation, dataset);
impl_order!(
    WorkerpoolOrder,
    OrderKind::Workerpool,
    WorkerpoolOrderOperation,
    workerpool
);
impl_order!(RequestOrder, OrderKind::Request, RequestOrderOperation, requester);

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::{Signature, address, b256};
    use alloy_signer_local::PrivateKeySigner;
    use alloy_sol_types::SolStruct;

    #[test]
    fn type_hashes_match_iexec_lib_orders() {
        // Constants of IexecLibOrders_v5.sol.
        assert_eq!(
            AppOrder::default().to_eip712().eip712_type_hash(),
            b256!("60815a0eeec47dddf1615fe53b31d016c31444e01b9d796db365443a6445d008")
        );
        assert_eq!(
            DatasetOrder::default().to_eip712().eip712_type_hash(),
            b256!("6cfc932a5a3d22c4359295b9f433edff52b60703fa47690a04a83e40933dd47c")
        );
        assert_eq!(
            WorkerpoolOrder::default().to_eip712().eip712_type_hash(),
            b256!("aa3429fb281b34691803133d3d978a75bb77c617ed6bc9aa162b9b30920022bb")
        );
        assert_eq!(
            RequestOrder::default().to_eip712().eip712_type_hash(),
            b256!("f24e853034a3a450aba845a82914fbb564ad85accca6cf62be112a154520fae0")
        );
    }

    #[test]
    fn reads_the_tutorial_dataset_order() {
        let json = r#"{
            "dataset": "0x0bF2AEb5e7FCE90DCb39FEEaC49Ce44893CAd31d",
            "datasetprice": 1000,
            "volume": 1000000,
            "tag": "0x0000000000000000000000000000000000000000000000000000000000000001",
            "apprestrict": "0x0000000000000000000000000000000000000000",
            "workerpoolrestrict": "0x0000000000000000000000000000000000000000",
            "requesterrestrict": "0x0000000000000000000000000000000000000000"
        }"#;
        let order: DatasetOrder = serde_json::from_str(json).unwrap();
        assert_eq!(order.dataset, address!("0bF2AEb5e7FCE90DCb39FEEaC49Ce44893CAd31d"));
        assert_eq!(order.datasetprice, U256::from(1000));
        assert!(order.tag.is_tee());
        let written = serde_json::to_value(&order).unwrap();
        assert_eq!(
            written["datasetprice"], "1000",
            "amounts are written as decimal strings"
        );
        assert_eq!(written["volume"], "1000000");
        assert!(written.get("sign").is_none(), "an unsigned order has no sign field");
    }

    #[test]
    fn signing_recovers_the_signer_and_covers_every_field() {
        let signer = PrivateKeySigner::random();
        let domain = Domain::new(31337, address!("1000000000000000000000000000000000000001"));
        let mut order = RequestOrder {
            requester: signer.address(),
            volume: U256::from(1),
            params: r#"{"iexec_args":"x"}"#.into(),
            ..Default::default()
        };
        order.refresh_salt();
        order.sign(&signer, &domain).unwrap();
        assert_eq!(order.sign.len(), 65);
        assert_eq!(order.recover_signer(&domain), Some(signer.address()));

        let mut tampered = order.clone();
        tampered.params.push(' ');
        assert_ne!(tampered.recover_signer(&domain), Some(signer.address()));
        let other_chain = Domain::new(1, domain.verifying_contract);
        assert_ne!(order.recover_signer(&other_chain), Some(signer.address()));
    }

    #[test]
    fn signatures_the_chain_would_refuse_are_refused() {
        let signer = PrivateKeySigner::random();
        let domain = Domain::new(31337, address!("1000000000000000000000000000000000000001"));
        let mut order = DatasetOrder {
            volume: U256::from(1),
            ..Default::default()
        };
        order.refresh_salt();
        order.sign(&signer, &domain).unwrap();
        let good = order.sign.to_vec();

        // The malleable twin (r, n - s, other parity) recovers the same key by plain
        // ecrecover, but OpenZeppelin's ECDSA in PoCo refuses an `s` above n / 2.
        let n = U256::from_be_bytes(alloy_primitives::hex!(
            "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141"
        ));
        let s = U256::from_be_slice(&good[32..64]);
        let mut twin = good.clone();
        twin[32..64].copy_from_slice(&(n - s).to_be_bytes::<32>());
        twin[64] = if good[64] == 27 { 28 } else { 27 };
        let twin_signature = Signature::try_from(twin.as_slice()).unwrap();
        assert_eq!(
            twin_signature.recover_address_from_prehash(&order.hash(&domain)).ok(),
            Some(signer.address()),
            "the twin is a valid signature for ecrecover"
        );
        order.sign = twin.into();
        assert_eq!(order.recover_signer(&domain), None);

        // `v` as 0 or 1, and a truncated signature.
        let mut raw_parity = good.clone();
        raw_parity[64] -= 27;
        order.sign = raw_parity.into();
        assert_eq!(order.recover_signer(&domain), None);
        order.sign = good[..64].to_vec().into();
        assert_eq!(order.recover_signer(&domain), None);
        order.sign = good.into();
        assert_eq!(order.recover_signer(&domain), Some(signer.address()));
    }
}
