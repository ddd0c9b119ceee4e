//! World state with its history: every account and storage slot keeps the values it
//! had at each block that changed it, so a call can run against any past block (the
//! key broker records the block it read an authorization at).

use std::collections::HashMap;

use alloy::primitives::{Address, B256, U256};
use revm::bytecode::Bytecode;
use revm::database_interface::{DBErrorMarker, DatabaseRef};
use revm::state::{AccountInfo, EvmState};

/// Versions of one value, oldest first, keyed by the block that wrote them.
#[derive(Debug, Default, Clone)]
struct History<T>(Vec<(u64, T)>);

impl<T: Clone> History<T> {
    fn at(&self, block: u64) -> Option<&T> {
        let i = self.0.partition_point(|(b, _)| *b <= block);
        i.checked_sub(1).map(|i| &self.0[i].1)
    }

    fn set(&mut self, block: u64, value: T) {
        match self.0.last_mut() {
            Some((b, v)) if *b == block => *v = value,
            _ => self.0.push((block, value)),
        }
    }
}

#[derive(Debug, Default, Clone)]
struct AccountHistory {
    /// `None` while the account does not exist.
    info: History<Option<AccountInfo>>,
    /// Blocks at which the account's storage was wiped (created anew).
    wiped: Vec<u64>,
    storage: HashMap<U256, History<U256>>,
}

impl AccountHistory {
    fn storage_at(&self, slot: U256, block: u64) -> U256 {
        let wiped = self.wiped.iter().rev().find(|b| **b <= block).copied();
        self.storage
            .get(&slot)
            .and_then(|h| {
                let i = h.0.partition_point(|(b, _)| *b <= block);
                let (b, v) = h.0.get(i.checked_sub(1)?)?;
                // A value written before the latest wipe is gone.
                (wiped.is_none_or(|w| *b >= w)).then_some(*v)
            })
            .unwrap_or_default()
    }
}

/// All state the chain has ever had.
#[derive(Debug, Default)]
pub struct Archive {
    accounts: HashMap<Address, AccountHistory>,
    code: HashMap<B256, Bytecode>,
    block_hashes: Vec<B256>,
}

/// The archive has every value, so reads never fail.
#[derive(Debug, thiserror::Error)]
#[error("state read failed")]
pub struct Never;

impl DBErrorMarker for Never {}

impl Archive {
    /// Set an account directly (genesis allocations).
    pub fn set_genesis_balance(&mut self, address: Address, balance: U256) {
        let info = AccountInfo { balance, ..AccountInfo::default() };
        self.accounts.entry(address).or_default().info.set(0, Some(info));
    }

    /// Record a block's hash once it is sealed (number = index).
    pub fn push_block_hash(&mut self, hash: B256) {
        self.block_hashes.push(hash);
    }

    /// Apply one transaction's state changes as of `block`.
    pub fn commit(&mut self, block: u64, changes: EvmState) {
        for (address, account) in changes {
            if !account.is_touched() {
                continue;
            }
            let entry = self.accounts.entry(address).or_default();
            if account.is_selfdestructed() {
                entry.info.set(block, None);
                entry.wiped.push(block);
                continue;
            }
            if account.is_created() {
                entry.wiped.push(block);
            }
            let mut info = account.info.clone();
            if let Some(code) = info.code.take()
                && !code.is_empty()
            {
                self.code.entry(info.code_hash).or_insert(code);
            }
            // EIP-161: a touched account left empty does not exist.
            let exists = !account.is_empty() || account.is_created();
            entry.info.set(block, exists.then_some(info));
            for (slot, value) in account.storage {
                if value.is_changed() {
                    entry.storage.entry(slot).or_default().set(block, value.present_value());
                }
            }
        }
    }

    /// A read-only view of the state after `block`.
    pub fn at(&self, block: u64) -> View<'_> {
        View { archive: self, block }
    }
}

/// The state as of one block, for revm and for queries.
#[derive(Debug, Clone, Copy)]
pub struct View<'a> {
    archive: &'a Archive,
    block: u64,
}

impl View<'_> {
    /// An account's balance.
    pub fn balance(&self, address: Address) -> U256 {
        self.info(address).map(|i| i.balance).unwrap_or_default()
    }

    /// An account's nonce.
    pub fn nonce(&self, address: Address) -> u64 {
        self.info(address).map(|i| i.nonce).unwrap_or_default()
    }

    /// An account's code (empty for none).
    pub fn code(&self, address: Address) -> Bytecode {
        self.info(address).and_then(|i| self.archive.code.get(&i.code_hash).cloned()).unwrap_or_default()
    }

    /// One storage slot.
    pub fn storage(&self, address: Address, slot: U256) -> U256 {
        self.archive.accounts.get(&address).map(|a| a.storage_at(slot, self.block)).unwrap_or_default()
    }

    fn info(&self, address: Address) -> Option<AccountInfo> {
        self.archive.accounts.get(&address)?.info.at(self.block)?.clone()
    }
}

impl DatabaseRef for View<'_> {
    type Error = Never;

    fn basic_ref(&self, address: Address) -> Result<Option<AccountInfo>, Never> {
        Ok(self.info(address))
    }

    fn code_by_hash_ref(&self, code_hash: B256) -> Result<Bytecode, Never> {
        Ok(self.archive.code.get(&code_hash).cloned().unwrap_or_default())
    }

    fn storage_ref(&self, address: Address, index: U256) -> Result<U256, Never> {
        Ok(self.storage(address, index))
    }

    fn block_hash_ref(&self, number: u64) -> Result<B256, Never> {
        Ok(usize::try_from(number)
            .ok()
            .and_then(|n| self.archive.block_hashes.get(n))
            .copied()
            .unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_answers_for_any_block() {
        let mut h = History::default();
        h.set(2, 20u64);
        h.set(5, 50);
        h.set(5, 55);
        assert_eq!(h.at(0), None);
        assert_eq!(h.at(1), None);
        assert_eq!(h.at(2), Some(&20));
        assert_eq!(h.at(4), Some(&20));
        assert_eq!(h.at(5), Some(&55));
        assert_eq!(h.at(u64::MAX), Some(&55));
    }

    #[test]
    fn storage_written_before_a_wipe_is_gone_after_it() {
        let mut a = AccountHistory::default();
        a.storage.entry(U256::from(1)).or_default().set(3, U256::from(7));
        a.wiped.push(6);
        assert_eq!(a.storage_at(U256::from(1), 2), U256::ZERO);
        assert_eq!(a.storage_at(U256::from(1), 4), U256::from(7));
        assert_eq!(a.storage_at(U256::from(1), 6), U256::ZERO);
        a.storage.entry(U256::from(1)).or_default().set(8, U256::from(9));
        assert_eq!(a.storage_at(U256::from(1), 7), U256::ZERO);
        assert_eq!(a.storage_at(U256::from(1), 8), U256::from(9));
    }
}
