// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// A list of apps, kept by one owner, for use as the `apprestrict` of PoCo dataset orders.
///
/// How PoCo honours it: when an order's restriction is neither zero nor the candidate's own
/// address but a contract, PoCo's order matching calls
/// `keyHasPurpose(bytes32(uint256(uint160(candidate))), 4)` on it and accepts the candidate
/// only if that returns true (4 is PoCo's "group member" purpose, the same for the app,
/// dataset, workerpool and requester restrictions). So this contract answers true for
/// purpose 4 and a listed app's address as a key, and false for everything else.
///
/// The list can be managed in two equivalent ways: `addApp`/`removeApp`, or the ERC-734
/// key-manager calls `addKey`/`removeKey` with purpose 4 and key type 1 (an address key),
/// for tools that speak ERC-734. Both change the same list and both emit the same pair of
/// events (`AppAdded` with `KeyAdded`, `AppRemoved` with `KeyRemoved`), so a reader of
/// either kind of event sees every change. Events are emitted only when the list changes:
/// adding a listed app or removing an unlisted one succeeds and emits nothing.
contract AppWhitelist {
    /// PoCo's purpose for a member of a restriction group (ERC-734 key manager).
    uint256 private constant GROUP_MEMBER_PURPOSE = 4;
    /// ERC-734 key type of a key that is an Ethereum address (ECDSA).
    uint256 private constant ADDRESS_KEY_TYPE = 1;

    /// The only account that may change the list. Fixed at deployment.
    address public immutable owner;

    mapping(address => bool) private listed;

    event AppAdded(address indexed app);
    event AppRemoved(address indexed app);
    /// ERC-734's events, emitted alongside the two above.
    event KeyAdded(bytes32 indexed key, uint256 indexed purpose, uint256 indexed keyType);
    event KeyRemoved(bytes32 indexed key, uint256 indexed purpose, uint256 indexed keyType);

    /// A change to the list was sent by someone other than the owner.
    error NotOwner(address caller);
    /// The owner given at deployment is the zero address: nobody could ever list an app.
    error ZeroOwner();
    /// `addKey`/`removeKey` with a purpose other than 4: this contract holds no other keys.
    error UnsupportedPurpose(uint256 purpose);
    /// `addKey` with a key type other than 1: only address keys are held.
    error UnsupportedKeyType(uint256 keyType);
    /// A key whose upper 96 bits are not zero is not an address.
    error NotAnAddressKey(bytes32 key);

    modifier onlyOwner() {
        if (msg.sender != owner) {
            revert NotOwner(msg.sender);
        }
        _;
    }

    constructor(address owner_) {
        if (owner_ == address(0)) {
            revert ZeroOwner();
        }
        owner = owner_;
    }

    function addApp(address app) external onlyOwner {
        _add(app);
    }

    function removeApp(address app) external onlyOwner {
        _remove(app);
    }

    function isAllowed(address app) external view returns (bool) {
        return listed[app];
    }

    /// ERC-734: true iff `purpose` is 4 and `key` is a listed app's address, zero-padded on
    /// the left as PoCo builds it. A key with any of its upper 96 bits set is no address and
    /// is never accepted (it must not alias the address in its lower 160 bits).
    function keyHasPurpose(bytes32 key, uint256 purpose) external view returns (bool) {
        if (purpose != GROUP_MEMBER_PURPOSE || uint256(key) >> 160 != 0) {
            return false;
        }
        return listed[address(uint160(uint256(key)))];
    }

    /// ERC-734: lists the app whose address is `key`. Only purpose 4 and key type 1.
    function addKey(bytes32 key, uint256 purpose, uint256 keyType) external onlyOwner returns (bool) {
        if (purpose != GROUP_MEMBER_PURPOSE) {
            revert UnsupportedPurpose(purpose);
        }
        if (keyType != ADDRESS_KEY_TYPE) {
            revert UnsupportedKeyType(keyType);
        }
        _add(_keyToAddress(key));
        return true;
    }

    /// ERC-734: unlists the app whose address is `key`. Only purpose 4.
    function removeKey(bytes32 key, uint256 purpose) external onlyOwner returns (bool) {
        if (purpose != GROUP_MEMBER_PURPOSE) {
            revert UnsupportedPurpose(purpose);
        }
        _remove(_keyToAddress(key));
        return true;
    }

    function _add(address app) private {
        if (listed[app]) {
            return;
        }
        listed[app] = true;
        emit AppAdded(app);
        emit KeyAdded(_addressToKey(app), GROUP_MEMBER_PURPOSE, ADDRESS_KEY_TYPE);
    }

    function _remove(address app) private {
        if (!listed[app]) {
            return;
        }
        listed[app] = false;
        emit AppRemoved(app);
        emit KeyRemoved(_addressToKey(app), GROUP_MEMBER_PURPOSE, ADDRESS_KEY_TYPE);
    }

    function _addressToKey(address app) private pure returns (bytes32) {
        return bytes32(uint256(uint160(app)));
    }

    function _keyToAddress(bytes32 key) private pure returns (address) {
        if (uint256(key) >> 160 != 0) {
            revert NotAnAddressKey(key);
        }
        return address(uint160(uint256(key)));
    }
}
