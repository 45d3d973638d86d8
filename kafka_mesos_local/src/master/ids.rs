//! Where the master's ids come from.

/// Makes the master's UUIDs (master id, stream ids, container ids, status update uuids):
/// random by default, or from a seed so that the same seed and inputs give the same ids.
///
/// ```
/// use kafka_mesos_local::master::Ids;
/// let (mut a, mut b) = (Ids::seeded(7), Ids::seeded(7));
/// assert_eq!(a.uuid(), b.uuid());
/// assert_ne!(a.uuid(), Ids::seeded(8).uuid());
/// assert_eq!(a.uuid().get_version_num(), 4);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ids {
    /// SplitMix64's state, or `None` for the operating system's randomness.
    seeded: Option<u64>,
}

impl Ids {
    /// Random ids (UUID version 4 from the operating system's randomness).
    pub fn random() -> Ids {
        Ids { seeded: None }
    }

    /// Ids from `seed`: version 4 UUIDs whose bits come from SplitMix64.
    pub fn seeded(seed: u64) -> Ids {
        Ids { seeded: Some(seed) }
    }

    /// The next UUID.
    pub fn uuid(&mut self) -> uuid::Uuid {
        let Some(state) = &mut self.seeded else {
            return uuid::Uuid::new_v4();
        };
        let mut bytes = [0u8; 16];
        for half in bytes.chunks_mut(8) {
            *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = *state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            half.copy_from_slice(&(z ^ (z >> 31)).to_le_bytes());
        }
        uuid::Builder::from_random_bytes(bytes).into_uuid()
    }

    /// The next UUID as 16 bytes (`TaskStatus.uuid`).
    pub fn uuid_bytes(&mut self) -> Vec<u8> {
        self.uuid().as_bytes().to_vec()
    }
}

impl Default for Ids {
    fn default() -> Ids {
        Ids::random()
    }
}
