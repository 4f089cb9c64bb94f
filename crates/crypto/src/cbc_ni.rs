//! AES-256-CBC encryption with AES-NI, keeping the 15 round keys in registers.
//!
//! CBC encryption is serial (each block needs the previous ciphertext), so its speed is
//! the latency of 14 AES rounds. The `cbc` crate re-enters the `aes` crate's backend for
//! every block; this loop runs the rounds inline and reaches OpenSSL's speed. Where the CPU
//! has no AES-NI, the `cbc` crate does the work. Both are checked against each other and
//! against FIPS-197 in the tests.

use aes::cipher::{BlockEncryptMut, KeyIvInit};

/// A CBC encryptor over whole 16-byte blocks; the IV chains across calls. One is built per
/// file, so the variants' size difference does not matter.
#[allow(clippy::large_enum_variant)]
pub(crate) enum CbcEncryptor {
    #[cfg(target_arch = "x86_64")]
    Native(ni::State),
    Portable(cbc::Encryptor<aes::Aes256>),
}

impl CbcEncryptor {
    pub(crate) fn new(key: &[u8; 32], iv: &[u8; 16]) -> CbcEncryptor {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("aes") && std::arch::is_x86_feature_detected!("sse2") {
            // SAFETY: both features this function is compiled for were just detected.
            return CbcEncryptor::Native(unsafe { ni::State::new(key, iv) });
        }
        CbcEncryptor::Portable(cbc::Encryptor::new(key.into(), iv.into()))
    }

    /// Encrypts `data` in place; its length must be a multiple of 16.
    pub(crate) fn encrypt_blocks(&mut self, data: &mut [u8]) {
        assert_eq!(data.len() % 16, 0, "CBC works on whole blocks");
        match self {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: a Native state is only built after AES-NI and SSE2 were detected.
            CbcEncryptor::Native(state) => unsafe { state.encrypt(data) },
            CbcEncryptor::Portable(cipher) => {
                let (blocks, _) = aes::cipher::inout::InOutBuf::from(data).into_chunks();
                cipher.encrypt_blocks_inout_mut(blocks);
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
pub(crate) mod ni {
    use std::arch::x86_64::*;

    use zeroize::Zeroize;

    /// Expanded key and chaining value. Wiped on drop.
    pub(crate) struct State {
        round_keys: [[u8; 16]; 15],
        chain: [u8; 16],
    }

    impl Drop for State {
        fn drop(&mut self) {
            self.round_keys.zeroize();
            self.chain.zeroize();
        }
    }

    fn to_bytes(v: __m128i) -> [u8; 16] {
        let mut out = [0u8; 16];
        // SAFETY: `out` is 16 writable bytes; storeu has no alignment requirement.
        unsafe { _mm_storeu_si128(out.as_mut_ptr().cast(), v) };
        out
    }

    fn from_bytes(bytes: &[u8; 16]) -> __m128i {
        // SAFETY: `bytes` is 16 readable bytes; loadu has no alignment requirement.
        unsafe { _mm_loadu_si128(bytes.as_ptr().cast()) }
    }

    #[target_feature(enable = "aes,sse2")]
    fn mix(mut previous: __m128i, assisted: __m128i) -> __m128i {
        let mut shifted = _mm_slli_si128(previous, 4);
        previous = _mm_xor_si128(previous, shifted);
        shifted = _mm_slli_si128(shifted, 4);
        previous = _mm_xor_si128(previous, shifted);
        shifted = _mm_slli_si128(shifted, 4);
        previous = _mm_xor_si128(previous, shifted);
        _mm_xor_si128(previous, assisted)
    }

    impl State {
        /// FIPS-197 AES-256 key expansion with AESKEYGENASSIST.
        ///
        /// # Safety
        /// The CPU must support AES-NI and SSE2.
        #[target_feature(enable = "aes,sse2")]
        pub(crate) unsafe fn new(key: &[u8; 32], iv: &[u8; 16]) -> State {
            let mut rk = [_mm_setzero_si128(); 15];
            let mut even = from_bytes(key[..16].try_into().expect("16 bytes"));
            let mut odd = from_bytes(key[16..].try_into().expect("16 bytes"));
            rk[0] = even;
            rk[1] = odd;
            // Each step derives two round keys: RotWord+SubWord with the round constant for
            // the even one, SubWord alone for the odd one. The last step needs only the even.
            macro_rules! even {
                ($i:expr, $rcon:expr) => {
                    even = mix(
                        even,
                        _mm_shuffle_epi32(_mm_aeskeygenassist_si128(odd, $rcon), 0xff),
                    );
                    rk[$i] = even;
                };
            }
            macro_rules! odd {
                ($i:expr) => {
                    odd = mix(
                        odd,
                        _mm_shuffle_epi32(_mm_aeskeygenassist_si128(even, 0x00), 0xaa),
                    );
                    rk[$i] = odd;
                };
            }
            even!(2, 0x01);
            odd!(3);
            even!(4, 0x02);
            odd!(5);
            even!(6, 0x04);
            odd!(7);
            even!(8, 0x08);
            odd!(9);
            even!(10, 0x10);
            odd!(11);
            even!(12, 0x20);
            odd!(13);
            even!(14, 0x40);
            State {
                round_keys: rk.map(to_bytes),
                chain: *iv,
            }
        }

        /// # Safety
        /// The CPU must support AES-NI and SSE2; `data.len()` must be a multiple of 16.
        #[target_feature(enable = "aes,sse2")]
        pub(crate) unsafe fn encrypt(&mut self, data: &mut [u8]) {
            let k = self.round_keys.map(|bytes| from_bytes(&bytes));
            let mut chain = from_bytes(&self.chain);
            for block in data.chunks_exact_mut(16) {
                let block: &mut [u8; 16] = block.try_into().expect("chunks of 16");
                let mut x = _mm_xor_si128(_mm_xor_si128(from_bytes(block), chain), k[0]);
                x = _mm_aesenc_si128(x, k[1]);
                x = _mm_aesenc_si128(x, k[2]);
                x = _mm_aesenc_si128(x, k[3]);
                x = _mm_aesenc_si128(x, k[4]);
                x = _mm_aesenc_si128(x, k[5]);
                x = _mm_aesenc_si128(x, k[6]);
                x = _mm_aesenc_si128(x, k[7]);
                x = _mm_aesenc_si128(x, k[8]);
                x = _mm_aesenc_si128(x, k[9]);
                x = _mm_aesenc_si128(x, k[10]);
                x = _mm_aesenc_si128(x, k[11]);
                x = _mm_aesenc_si128(x, k[12]);
                x = _mm_aesenc_si128(x, k[13]);
                x = _mm_aesenclast_si128(x, k[14]);
                *block = to_bytes(x);
                chain = x;
            }
            self.chain = to_bytes(chain);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fips_197_aes_256_vector() {
        // FIPS-197 appendix C.3: with a zero IV, one CBC block is plain AES.
        let key: [u8; 32] = std::array::from_fn(|i| i as u8);
        let mut block: [u8; 16] = std::array::from_fn(|i| (i as u8) * 0x11);
        CbcEncryptor::new(&key, &[0; 16]).encrypt_blocks(&mut block);
        assert_eq!(alloy_primitives::hex::encode(block), "8ea2b7ca516745bfeafc49904b496089");
    }

    #[test]
    fn native_and_portable_agree_across_calls() {
        let key: [u8; 32] = std::array::from_fn(|i| (i * 7 + 3) as u8);
        let iv: [u8; 16] = std::array::from_fn(|i| (i * 13 + 1) as u8);
        let data: Vec<u8> = (0..4096).map(|i| (i * 31 % 251) as u8).collect();
        let mut fast = data.clone();
        let mut encryptor = CbcEncryptor::new(&key, &iv);
        encryptor.encrypt_blocks(&mut fast[..1024]);
        encryptor.encrypt_blocks(&mut fast[1024..]);
        let mut reference = data.clone();
        let mut portable = CbcEncryptor::Portable(cbc::Encryptor::new((&key).into(), (&iv).into()));
        portable.encrypt_blocks(&mut reference);
        assert_eq!(fast, reference);
    }
}
