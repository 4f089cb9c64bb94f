//! Plain words for PoCo's revert reasons, which are opaque codes on chain.

/// Explains a revert reason such as `iExecV5-matchOrders-0x06`; `None` when unknown.
pub fn explain(reason: &str) -> Option<&'static str> {
    let code = reason.trim().strip_prefix("iExecV5-matchOrders-")?;
    let text = match code {
        "0x00" => "the request order and the workerpool order ask for different categories",
        "0x01" => "the category does not exist on this deployment",
        "0x02" => "the request order asks for more trust than the workerpool order offers",
        "0x03" => "the app costs more than the request order's appmaxprice",
        "0x04" => "the dataset costs more than the request order's datasetmaxprice",
        "0x05" => "the workerpool costs more than the request order's workerpoolmaxprice",
        "0x06" => "the workerpool order's tag lacks a requirement of the app, dataset or request tag",
        "0x07" => "the demand is TEE but the app order is not (or the reverse): TEE bits must agree",
        "0x10" => "the request order names another app than the app order",
        "0x11" => "the request order names another dataset than the dataset order",
        "0x12" => "the request order is restricted to another workerpool",
        "0x13" => "the app order is restricted to another dataset",
        "0x14" => "the app order is restricted to another workerpool",
        "0x15" => "the app order is restricted to another requester",
        "0x16" => "the dataset order is restricted to another app",
        "0x17" => "the dataset order is restricted to another workerpool",
        "0x18" => "the dataset order is restricted to another requester",
        "0x19" => "the workerpool order is restricted to another app",
        "0x1a" => "the workerpool order is restricted to another dataset",
        "0x1b" => "the workerpool order is restricted to another requester",
        "0x20" => "the app is not registered in the app registry",
        "0x21" => "the app order's signature is not its owner's",
        "0x30" => "the dataset is not registered in the dataset registry",
        "0x31" => "the dataset order's signature is not its owner's",
        "0x40" => "the workerpool is not registered in the workerpool registry",
        "0x41" => "the workerpool order's signature is not its owner's",
        "0x50" => "the request order's signature is not the requester's",
        "0x60" => "one of the orders has no volume left (consumed or cancelled)",
        _ => return None,
    };
    Some(text)
}

/// `reason` followed by its explanation when one is known.
pub fn describe(reason: &str) -> String {
    match explain(reason) {
        Some(text) => format!("{text} ({reason})"),
        None => reason.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_match_orders_code_has_words() {
        for code in [
            "00", "01", "02", "03", "04", "05", "06", "07", "10", "11", "12", "13", "14", "15", "16", "17", "18", "19",
            "1a", "1b", "20", "21", "30", "31", "40", "41", "50", "60",
        ] {
            assert!(explain(&format!("iExecV5-matchOrders-0x{code}")).is_some(), "{code}");
        }
        assert_eq!(explain("something else"), None);
        assert!(describe("iExecV5-matchOrders-0x06").ends_with("(iExecV5-matchOrders-0x06)"));
    }
}
