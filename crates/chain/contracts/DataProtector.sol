// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// The one function of PoCo's DatasetRegistry that this contract calls. PoCo 6.1.0 declares
/// it as returning its `Dataset` contract type, which is an `address` in the ABI.
interface IDatasetRegistry {
    function createDataset(
        address owner,
        string calldata name,
        bytes calldata multiaddr,
        bytes32 checksum
    ) external returns (address);
}

/// Creates a PoCo dataset and records, in the same transaction, the schema of the data it
/// points at (which fields the protected data has and of what type), so that a buyer's app
/// can be matched to a dataset by reading the chain alone.
///
/// The schema lives only in the `DatasetSchema` event: this contract keeps no state. It adds
/// no access control either: PoCo's registry lets anyone create a dataset for any owner, and
/// going through this contract changes nothing about who owns what. The dataset NFT is
/// minted by the registry straight to `owner`; this contract never holds it.
contract DataProtector {
    /// PoCo's DatasetRegistry, fixed at deployment.
    address public immutable registry;

    /// Emitted once for each dataset created here, after the registry has minted it.
    event DatasetSchema(address indexed dataset, string schema);

    /// The registry address holds no code: almost certainly a wrong address.
    error RegistryNotAContract(address registry);

    constructor(address registry_) {
        if (registry_.code.length == 0) {
            revert RegistryNotAContract(registry_);
        }
        registry = registry_;
    }

    /// Creates the dataset in PoCo's registry for `owner` and emits its schema. Reverts
    /// whenever the registry does (for example when the same owner already created a
    /// dataset with the same name, multiaddr and checksum: its address is derived from them).
    function createDatasetWithSchema(
        address owner,
        string calldata name,
        string calldata schema,
        bytes calldata multiaddr,
        bytes32 checksum
    ) external returns (address dataset) {
        dataset = IDatasetRegistry(registry).createDataset(owner, name, multiaddr, checksum);
        emit DatasetSchema(dataset, schema);
    }
}
