//! Base64url without padding (RFC 7515 §2, RFC 4648 §5), strict: no padding, no whitespace,
//! no other alphabet, and unused trailing bits must be zero, so each value has one encoding.

/// Why a part does not decode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct InvalidBase64;

const INVALID: u8 = 0xff;

/// The value of each input byte, or `INVALID`.
const DECODE: [u8; 256] = {
    let mut table = [INVALID; 256];
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut i = 0;
    while i < alphabet.len() {
        table[alphabet[i] as usize] = i as u8;
        i += 1;
    }
    table
};

/// The decoded length of `encoded_len` characters; `None` for a length no encoding has
/// (one character more than a multiple of four).
pub(crate) fn decoded_len(encoded_len: usize) -> Option<usize> {
    let tail = match encoded_len % 4 {
        0 => 0,
        2 => 1,
        3 => 2,
        _ => return None,
    };
    Some(encoded_len / 4 * 3 + tail)
}

/// Decodes `input` into the start of `out`, which must hold [`decoded_len`] bytes, and
/// returns the decoded bytes.
pub(crate) fn decode_into<'o>(input: &[u8], out: &'o mut [u8]) -> Result<&'o [u8], InvalidBase64> {
    let len = decoded_len(input.len()).ok_or(InvalidBase64)?;
    let out = out.get_mut(..len).ok_or(InvalidBase64)?;

    let mut chunks = input.chunks_exact(4);
    let mut written = 0;
    for chunk in chunks.by_ref() {
        let bits = sextets(chunk)?;
        out[written] = (bits >> 16) as u8;
        out[written + 1] = (bits >> 8) as u8;
        out[written + 2] = bits as u8;
        written += 3;
    }

    // RFC 4648 §3.5: the bits past the last whole byte are zero in a canonical encoding.
    let rest = chunks.remainder();
    match rest.len() {
        0 => {}
        2 => {
            let bits = sextets(rest)?;
            if bits & 0x0f != 0 {
                return Err(InvalidBase64);
            }
            out[written] = (bits >> 4) as u8;
        }
        3 => {
            let bits = sextets(rest)?;
            if bits & 0x03 != 0 {
                return Err(InvalidBase64);
            }
            out[written] = (bits >> 10) as u8;
            out[written + 1] = (bits >> 2) as u8;
        }
        // decoded_len refused a remainder of one character.
        _ => return Err(InvalidBase64),
    }
    Ok(out)
}

/// Decodes `input` into `stack` when it fits, else into `heap`: small parts cost no
/// allocation.
pub(crate) fn decode<'b>(
    input: &[u8],
    stack: &'b mut [u8],
    heap: &'b mut Vec<u8>,
) -> Result<&'b [u8], InvalidBase64> {
    let len = decoded_len(input.len()).ok_or(InvalidBase64)?;
    if len <= stack.len() {
        decode_into(input, stack)
    } else {
        heap.resize(len, 0);
        decode_into(input, heap)
    }
}

/// The sextets of up to four characters, packed big-endian.
fn sextets(chars: &[u8]) -> Result<u32, InvalidBase64> {
    let mut bits = 0u32;
    for &c in chars {
        let value = DECODE[usize::from(c)];
        if value == INVALID {
            return Err(InvalidBase64);
        }
        bits = bits << 6 | u32::from(value);
    }
    Ok(bits)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test code")]

    use super::*;

    fn decoded(input: &str) -> Result<Vec<u8>, InvalidBase64> {
        let mut out = vec![0; 64];
        decode_into(input.as_bytes(), &mut out).map(<[u8]>::to_vec)
    }

    #[test]
    fn rfc_4648_vectors_decode_without_padding() {
        assert_eq!(decoded("").unwrap(), b"");
        assert_eq!(decoded("Zg").unwrap(), b"f");
        assert_eq!(decoded("Zm8").unwrap(), b"fo");
        assert_eq!(decoded("Zm9v").unwrap(), b"foo");
        assert_eq!(decoded("Zm9vYg").unwrap(), b"foob");
        assert_eq!(decoded("Zm9vYmE").unwrap(), b"fooba");
        assert_eq!(decoded("Zm9vYmFy").unwrap(), b"foobar");
    }

    #[test]
    fn url_alphabet_is_used_and_standard_alphabet_refused() {
        assert_eq!(decoded("-_8").unwrap(), [0xfb, 0xff]);
        assert_eq!(decoded("+/8"), Err(InvalidBase64));
    }

    #[test]
    fn padding_whitespace_and_bad_lengths_are_refused() {
        assert_eq!(decoded("Zg=="), Err(InvalidBase64));
        assert_eq!(decoded("Zm8="), Err(InvalidBase64));
        assert_eq!(decoded("Zm9 v"), Err(InvalidBase64));
        assert_eq!(decoded("Zm9vY"), Err(InvalidBase64));
    }

    #[test]
    fn non_zero_trailing_bits_are_refused() {
        assert_eq!(decoded("Zh"), Err(InvalidBase64));
        assert_eq!(decoded("Zm9"), Err(InvalidBase64));
    }

    #[test]
    fn large_input_goes_to_the_heap_buffer() {
        let mut stack = [0u8; 2];
        let mut heap = Vec::new();
        let out = decode(b"Zm9vYmFy", &mut stack, &mut heap).unwrap();
        assert_eq!(out, b"foobar");
        assert_eq!(heap.len(), 6);
    }
}
