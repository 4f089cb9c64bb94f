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
    App,
    Dataset,
    Workerpool,
    Request,
}

impl OrderKind {
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
    Sign = 0,
    Close = 1,
}

/// Behaviour shared by the four orders.
pub trait Order: Clone {
    const KIND: OrderKind;

    /// The EIP-712 struct hash (`hashStruct`), without the domain.
    fn struct_hash(&self) -> B256;
    /// The EIP-712 hash of `{order, operation}` for signed `manage*Order` calls.
    fn operation_hash(&self, operation: OrderOperation, domain: &Domain) -> B256;
    fn salt_mut(&mut self) -> &mut B256;
    fn sign_field(&self) -> &Bytes;
    fn sign_field_mut(&mut self) -> &mut Bytes;
    /// The asset the order sells, or the requester for request orders.
    fn subject(&self) -> Address;
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

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppOrder {
    pub app: Address,
    #[serde(with = "decimal")]
    pub appprice: U256,
    #[serde(with = "decimal")]
    pub volume: U256,
    pub tag: Tag,
    #[serde(default)]
    pub datasetrestrict: Address,
    #[serde(default)]
    pub workerpoolrestrict: Address,
    #[serde(default)]
    pub requesterrestrict: Address,
    #[serde(default)]
    pub salt: B256,
    #[serde(default, skip_serializing_if = "is_empty")]
    pub sign: Bytes,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatasetOrder {
    pub dataset: Address,
    #[serde(with = "decimal")]
    pub datasetprice: U256,
    #[serde(with = "decimal")]
    pub volume: U256,
    pub tag: Tag,
    #[serde(default)]
    pub apprestrict: Address,
    #[serde(default)]
    pub workerpoolrestrict: Address,
    #[serde(default)]
    pub requesterrestrict: Address,
    #[serde(default)]
    pub salt: B256,
    #[serde(default, skip_serializing_if = "is_empty")]
    pub sign: Bytes,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerpoolOrder {
    pub workerpool: Address,
    #[serde(with = "decimal")]
    pub workerpoolprice: U256,
    #[serde(with = "decimal")]
    pub volume: U256,
    pub tag: Tag,
    #[serde(with = "decimal")]
    pub category: U256,
    #[serde(with = "decimal")]
    pub trust: U256,
    #[serde(default)]
    pub apprestrict: Address,
    #[serde(default)]
    pub datasetrestrict: Address,
    #[serde(default)]
    pub requesterrestrict: Address,
    #[serde(default)]
    pub salt: B256,
    #[serde(default, skip_serializing_if = "is_empty")]
    pub sign: Bytes,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestOrder {
    pub app: Address,
    #[serde(with = "decimal")]
    pub appmaxprice: U256,
    #[serde(default)]
    pub dataset: Address,
    #[serde(with = "decimal", default)]
    pub datasetmaxprice: U256,
    #[serde(default)]
    pub workerpool: Address,
    #[serde(with = "decimal")]
    pub workerpoolmaxprice: U256,
    pub requester: Address,
    #[serde(with = "decimal")]
    pub volume: U256,
    pub tag: Tag,
    #[serde(with = "decimal")]
    pub category: U256,
    #[serde(with = "decimal")]
    pub trust: U256,
    #[serde(default)]
    pub beneficiary: Address,
    #[serde(default)]
    pub callback: Address,
    #[serde(default)]
    pub params: String,
    #[serde(default)]
    pub salt: B256,
    #[serde(default, skip_serializing_if = "is_empty")]
    pub sign: Bytes,
}

impl AppOrder {
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
