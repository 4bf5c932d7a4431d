//! The HMAC-SHA256 primitive the authenticated handshake uses (`hmac-sha256`, cargo feature
//! `auth`) against the test vectors of RFC 4231, section 4 (all seven cases, HMAC-SHA-256
//! column), fed whole and in pieces (src/auth.rs feeds its input in pieces), and its
//! constant-time verify rejecting any one flipped bit. The handshake's own layout is pinned
//! by src/auth.rs's `known_answer` (src/auth_kat.txt).

use hmac_sha256::HMAC;

/// (key, data, HMAC-SHA-256 as printed in RFC 4231; case 5 gives only the first 128 bits).
fn cases() -> Vec<(Vec<u8>, Vec<u8>, &'static str)> {
    vec![
        // 4.2. Test Case 1
        (
            vec![0x0b; 20],
            b"Hi There".to_vec(),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
        ),
        // 4.3. Test Case 2: a key shorter than the output
        (
            b"Jefe".to_vec(),
            b"what do ya want for nothing?".to_vec(),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
        ),
        // 4.4. Test Case 3: key and data longer than 64 bytes together
        (
            vec![0xaa; 20],
            vec![0xdd; 50],
            "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe",
        ),
        // 4.5. Test Case 4
        (
            (1..=25).collect(),
            vec![0xcd; 50],
            "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b",
        ),
        // 4.6. Test Case 5: the RFC prints the output truncated to 128 bits
        (
            vec![0x0c; 20],
            b"Test With Truncation".to_vec(),
            "a3b6167473100ee06e0c796c2955552b",
        ),
        // 4.7. Test Case 6: a key longer than the block, hashed first
        (
            vec![0xaa; 131],
            b"Test Using Larger Than Block-Size Key - Hash Key First".to_vec(),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
        ),
        // 4.8. Test Case 7: key and data longer than the block
        (
            vec![0xaa; 131],
            b"This is a test using a larger than block-size key and a larger than block-size \
              data. The key needs to be hashed before being used by the HMAC algorithm."
                .to_vec(),
            "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2",
        ),
    ]
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn rfc4231_whole_and_in_pieces() {
    for (n, (key, data, want)) in cases().into_iter().enumerate() {
        let case = n + 1;
        let whole = HMAC::mac(&data, &key);
        assert!(
            hex(&whole).starts_with(want),
            "case {case}: {}",
            hex(&whole)
        );
        // Fed in pieces of every size from 1 to 7 bytes, as a handshake feeds it.
        for piece in 1..=7 {
            let mut mac = HMAC::new(&key);
            for chunk in data.chunks(piece) {
                mac.update(chunk);
            }
            assert_eq!(mac.finalize(), whole, "case {case}, pieces of {piece}");
        }
    }
}

#[test]
fn verify_rejects_every_flipped_bit() {
    for (key, data, _) in cases() {
        let good = HMAC::mac(&data, &key);
        let mut mac = HMAC::new(&key);
        mac.update(&data);
        assert!(mac.finalize_verify(&good));
        for bit in 0..256 {
            let mut bad = good;
            bad[bit / 8] ^= 1 << (bit % 8);
            let mut mac = HMAC::new(&key);
            mac.update(&data);
            assert!(!mac.finalize_verify(&bad), "bit {bit} flipped was accepted");
        }
    }
}
