//! Solidity interfaces of the PoCo contracts we call, written from the ABI that
//! `@iexec/poco` 6.1.0 publishes. Only the parts Confide uses are declared.

#![allow(clippy::too_many_arguments)]

use alloy::sol;

sol! {
    /// Orders as PoCo's functions take them: the EIP-712 struct plus its signature.
    struct AppOrder {
        address app; uint256 appprice; uint256 volume; bytes32 tag;
        address datasetrestrict; address workerpoolrestrict; address requesterrestrict;
        bytes32 salt; bytes sign;
    }
    struct DatasetOrder {
        address dataset; uint256 datasetprice; uint256 volume; bytes32 tag;
        address apprestrict; address workerpoolrestrict; address requesterrestrict;
        bytes32 salt; bytes sign;
    }
    struct WorkerpoolOrder {
        address workerpool; uint256 workerpoolprice; uint256 volume; bytes32 tag;
        uint256 category; uint256 trust;
        address apprestrict; address datasetrestrict; address requesterrestrict;
        bytes32 salt; bytes sign;
    }
    struct RequestOrder {
        address app; uint256 appmaxprice; address dataset; uint256 datasetmaxprice;
        address workerpool; uint256 workerpoolmaxprice; address requester; uint256 volume;
        bytes32 tag; uint256 category; uint256 trust; address beneficiary; address callback;
        string params; bytes32 salt; bytes sign;
    }
    struct AppOrderOperation { AppOrder order; uint8 operation; bytes sign; }
    struct DatasetOrderOperation { DatasetOrder order; uint8 operation; bytes sign; }
    struct WorkerpoolOrderOperation { WorkerpoolOrder order; uint8 operation; bytes sign; }
    struct RequestOrderOperation { RequestOrder order; uint8 operation; bytes sign; }

    struct Resource { address pointer; address owner; uint256 price; }
    struct Deal {
        Resource app; Resource dataset; Resource workerpool;
        uint256 trust; uint256 category; bytes32 tag;
        address requester; address beneficiary; address callback; string params;
        uint256 startTime; uint256 botFirst; uint256 botSize;
        uint256 workerStake; uint256 schedulerRewardRatio; address sponsor;
    }
    struct Task {
        uint8 status; bytes32 dealid; uint256 idx; uint256 timeref;
        uint256 contributionDeadline; uint256 revealDeadline; uint256 finalDeadline;
        bytes32 consensusValue; uint256 revealCounter; uint256 winnerCounter;
        address[] contributors; bytes32 resultDigest; bytes results;
        uint256 resultsTimestamp; bytes resultsCallback;
    }
    struct Contribution {
        uint8 status; bytes32 resultHash; bytes32 resultSeal; address enclaveChallenge; uint256 weight;
    }
    struct Account { uint256 stake; uint256 locked; }
    struct Category { string name; string description; uint256 workClockTimeRef; }
    struct AppInfo {
        address owner; string m_appName; string m_appType; bytes m_appMultiaddr;
        bytes32 m_appChecksum; bytes m_appMREnclave;
    }
    struct DatasetInfo { address owner; string m_datasetName; bytes m_datasetMultiaddr; bytes32 m_datasetChecksum; }
    struct WorkerpoolInfo {
        address owner; string m_workerpoolDescription;
        uint256 m_workerStakeRatioPolicy; uint256 m_schedulerRewardRatioPolicy;
    }
    struct EIP712Domain { string name; string version; uint256 chainId; address verifyingContract; }

    /// The PoCo diamond ("hub") in token mode.
    #[sol(rpc)]
    interface IexecHub {
        event SchedulerNotice(address indexed workerpool, bytes32 dealid);
        event OrdersMatched(bytes32 dealid, bytes32 appHash, bytes32 datasetHash, bytes32 workerpoolHash, bytes32 requestHash, uint256 volume);
        event DealSponsored(bytes32 dealId, address sponsor);
        event TaskInitialize(bytes32 indexed taskid, address indexed workerpool);
        event TaskContribute(bytes32 indexed taskid, address indexed worker, bytes32 hash);
        event TaskConsensus(bytes32 indexed taskid, bytes32 consensus);
        event TaskReveal(bytes32 indexed taskid, address indexed worker, bytes32 digest);
        event TaskReopen(bytes32 indexed taskid);
        event TaskFinalize(bytes32 indexed taskid, bytes results);
        event TaskClaimed(bytes32 indexed taskid);
        event ClosedAppOrder(bytes32 appHash);
        event ClosedDatasetOrder(bytes32 datasetHash);
        event ClosedWorkerpoolOrder(bytes32 workerpoolHash);
        event ClosedRequestOrder(bytes32 requestHash);
        event SignedAppOrder(bytes32 appHash);
        event SignedDatasetOrder(bytes32 datasetHash);
        event SignedWorkerpoolOrder(bytes32 workerpoolHash);
        event SignedRequestOrder(bytes32 requestHash);
        event CreateCategory(uint256 catid, string name, string description, uint256 workClockTimeRef);

        function owner() external view returns (address);
        function token() external view returns (address);
        function appregistry() external view returns (address);
        function datasetregistry() external view returns (address);
        function workerpoolregistry() external view returns (address);
        function name() external view returns (string);
        function symbol() external view returns (string);
        function decimals() external view returns (uint8);
        function domain() external view returns (EIP712Domain);
        function eip712domain_separator() external view returns (bytes32);
        function teebroker() external view returns (address);
        function callbackgas() external view returns (uint256);
        function countCategory() external view returns (uint256);
        function viewCategory(uint256 index) external view returns (Category);
        function viewAccount(address account) external view returns (Account);
        function balanceOf(address account) external view returns (uint256);
        function frozenOf(address account) external view returns (uint256);
        function viewScore(address worker) external view returns (uint256);
        function viewConsumed(bytes32 id) external view returns (uint256);
        function viewPresigned(bytes32 id) external view returns (address);
        function viewDeal(bytes32 id) external view returns (Deal);
        function viewTask(bytes32 id) external view returns (Task);
        function viewContribution(bytes32 taskid, address worker) external view returns (Contribution);
        function viewApp(address app) external view returns (AppInfo);
        function viewDataset(address dataset) external view returns (DatasetInfo);
        function viewWorkerpool(address workerpool) external view returns (WorkerpoolInfo);
        function resultFor(bytes32 id) external view returns (bytes);
        function verifySignature(address account, bytes32 hash, bytes signature) external view returns (bool);
        function verifyPresignatureOrSignature(address account, bytes32 hash, bytes signature) external view returns (bool);
        function assertDatasetDealCompatibility(DatasetOrder datasetOrder, bytes32 dealId) external view;
        function computeDealVolume(AppOrder appOrder, DatasetOrder datasetOrder, WorkerpoolOrder workerpoolOrder, RequestOrder requestOrder) external view returns (uint256);

        function configure(address token, string name, string symbol, uint8 decimals, address appregistry, address datasetregistry, address workerpoolregistry, address v3_iexecHub) external;
        function createCategory(string name, string description, uint256 workClockTimeRef) external returns (uint256);
        function deposit(uint256 amount) external returns (bool);
        function depositFor(uint256 amount, address target) external returns (bool);
        function withdraw(uint256 amount) external returns (bool);
        function withdrawTo(uint256 amount, address target) external returns (bool);
        function matchOrders(AppOrder appOrder, DatasetOrder datasetOrder, WorkerpoolOrder workerpoolOrder, RequestOrder requestOrder) external returns (bytes32);
        function sponsorMatchOrders(AppOrder appOrder, DatasetOrder datasetOrder, WorkerpoolOrder workerpoolOrder, RequestOrder requestOrder) external returns (bytes32);
        function manageAppOrder(AppOrderOperation operation) external;
        function manageDatasetOrder(DatasetOrderOperation operation) external;
        function manageWorkerpoolOrder(WorkerpoolOrderOperation operation) external;
        function manageRequestOrder(RequestOrderOperation operation) external;
        function initialize(bytes32 dealid, uint256 idx) external returns (bytes32);
        function initializeArray(bytes32[] dealids, uint256[] idxs) external returns (bool);
        function contribute(bytes32 taskid, bytes32 resultHash, bytes32 resultSeal, address enclaveChallenge, bytes enclaveSign, bytes authorizationSign) external;
        function contributeAndFinalize(bytes32 taskid, bytes32 resultDigest, bytes results, bytes resultsCallback, address enclaveChallenge, bytes enclaveSign, bytes authorizationSign) external;
        function reveal(bytes32 taskid, bytes32 resultDigest) external;
        function reopen(bytes32 taskid) external;
        function finalize(bytes32 taskid, bytes results, bytes resultsCallback) external;
        function claim(bytes32 taskid) external;
        function claimArray(bytes32[] taskids) external returns (bool);
        function initializeAndClaimArray(bytes32[] dealids, uint256[] idxs) external returns (bool);
    }

    /// The diamond's own cut and loupe functions.
    struct FacetCut { address facetAddress; uint8 action; bytes4[] functionSelectors; }
    struct DiamondArgs { address owner; address init; bytes initCalldata; }

    #[sol(rpc)]
    interface IDiamond {
        function diamondCut(FacetCut[] cuts, address init, bytes initCalldata) external;
        function facetAddress(bytes4 selector) external view returns (address);
    }

    /// `DiamondInit.init()`, run by the diamond's constructor.
    function init();

    /// RLC, the ERC-20 token PoCo is paid in (9 decimals).
    #[sol(rpc)]
    interface Rlc {
        event Transfer(address indexed from, address indexed to, uint256 value);
        function name() external view returns (string);
        function symbol() external view returns (string);
        function decimals() external view returns (uint8);
        function totalSupply() external view returns (uint256);
        function balanceOf(address owner) external view returns (uint256);
        function allowance(address owner, address spender) external view returns (uint256);
        function transfer(address to, uint256 value) external returns (bool);
        function approve(address spender, uint256 value) external returns (bool);
    }

    /// Any contract with an owner (ERC-5313): datasets, apps, workerpools.
    #[sol(rpc)]
    interface IOwnable {
        function owner() external view returns (address);
    }

    /// App, dataset and workerpool registries (ERC-721: the asset's address is its token id).
    #[sol(rpc)]
    interface Registry {
        event Transfer(address indexed from, address indexed to, uint256 indexed tokenId);
        function initialize(address previous) external;
        function initialized() external view returns (bool);
        function setBaseURI(string baseURI) external;
        function baseURI() external view returns (string);
        function isRegistered(address entry) external view returns (bool);
        function balanceOf(address owner) external view returns (uint256);
        function ownerOf(uint256 tokenId) external view returns (address);
        function tokenOfOwnerByIndex(address owner, uint256 index) external view returns (uint256);
        function totalSupply() external view returns (uint256);
        function transferFrom(address from, address to, uint256 tokenId) external;
        function createApp(address owner, string name, string appType, bytes multiaddr, bytes32 checksum, bytes mrenclave) external returns (address);
        function predictApp(address owner, string name, string appType, bytes multiaddr, bytes32 checksum, bytes mrenclave) external view returns (address);
        function createDataset(address owner, string name, bytes multiaddr, bytes32 checksum) external returns (address);
        function predictDataset(address owner, string name, bytes multiaddr, bytes32 checksum) external view returns (address);
        function createWorkerpool(address owner, string description) external returns (address);
        function predictWorkerpool(address owner, string description) external view returns (address);
    }

    /// Confide's DataProtector contract (`contracts/DataProtector.sol`): the ABI and event of
    /// iExec's, so iExec's DataProtector SDK registers protected data through it.
    #[sol(rpc)]
    interface DataProtector {
        event DatasetSchema(address indexed dataset, string schema);
        function registry() external view returns (address);
        function createDatasetWithSchema(address owner, string name, string schema, bytes multiaddr, bytes32 checksum) external returns (address);
    }

    /// Confide's app whitelist (`contracts/AppWhitelist.sol`): an ERC-734 key manager whose
    /// listed apps PoCo accepts where an order restricts to the whitelist.
    #[sol(rpc)]
    interface AppWhitelist {
        event AppAdded(address indexed app);
        event AppRemoved(address indexed app);
        function owner() external view returns (address);
        function addApp(address app) external;
        function removeApp(address app) external;
        function isAllowed(address app) external view returns (bool);
        function keyHasPurpose(bytes32 key, uint256 purpose) external view returns (bool);
    }
}
