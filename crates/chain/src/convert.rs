//! Protocol orders to the ABI structs PoCo's functions take.

use confide_protocol::order as proto;

use crate::bindings;

impl From<&proto::AppOrder> for bindings::AppOrder {
    fn from(o: &proto::AppOrder) -> Self {
        bindings::AppOrder {
            app: o.app,
            appprice: o.appprice,
            volume: o.volume,
            tag: o.tag.0,
            datasetrestrict: o.datasetrestrict,
            workerpoolrestrict: o.workerpoolrestrict,
            requesterrestrict: o.requesterrestrict,
            salt: o.salt,
            sign: o.sign.clone(),
        }
    }
}

impl From<&proto::DatasetOrder> for bindings::DatasetOrder {
    fn from(o: &proto::DatasetOrder) -> Self {
        bindings::DatasetOrder {
            dataset: o.dataset,
            datasetprice: o.datasetprice,
            volume: o.volume,
            tag: o.tag.0,
            apprestrict: o.apprestrict,
            workerpoolrestrict: o.workerpoolrestrict,
            requesterrestrict: o.requesterrestrict,
            salt: o.salt,
            sign: o.sign.clone(),
        }
    }
}

impl From<&proto::WorkerpoolOrder> for bindings::WorkerpoolOrder {
    fn from(o: &proto::WorkerpoolOrder) -> Self {
        bindings::WorkerpoolOrder {
            workerpool: o.workerpool,
            workerpoolprice: o.workerpoolprice,
            volume: o.volume,
            tag: o.tag.0,
            category: o.category,
            trust: o.trust,
            apprestrict: o.apprestrict,
            datasetrestrict: o.datasetrestrict,
            requesterrestrict: o.requesterrestrict,
            salt: o.salt,
            sign: o.sign.clone(),
        }
    }
}

impl From<&proto::RequestOrder> for bindings::RequestOrder {
    fn from(o: &proto::RequestOrder) -> Self {
        bindings::RequestOrder {
            app: o.app,
            appmaxprice: o.appmaxprice,
            dataset: o.dataset,
            datasetmaxprice: o.datasetmaxprice,
            workerpool: o.workerpool,
            workerpoolmaxprice: o.workerpoolmaxprice,
            requester: o.requester,
            volume: o.volume,
            tag: o.tag.0,
            category: o.category,
            trust: o.trust,
            beneficiary: o.beneficiary,
            callback: o.callback,
            params: o.params.clone(),
            salt: o.salt,
            sign: o.sign.clone(),
        }
    }
}
