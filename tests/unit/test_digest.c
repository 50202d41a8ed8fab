/*
 * test_digest.c: SHA-256, HMAC-SHA-256, MD5, hex and base64 against
 * published vectors.
 *
 * SHA-256: the FIPS 180-2 examples (appendix B: "abc", the 448-bit
 * message, one million 'a', fed in uneven pieces).  HMAC-SHA-256: RFC
 * 4231 test cases 1, 2, 6 (a 131-byte key, hashed first) and 7, and the
 * key aliasing the output, as SigV4's key derivation calls it.  MD5: RFC
 * 1321's test suite.  Base64: RFC 4648 section 10.
 */
#include "ws/digest.h"

#include "check.h"

static void sha_hex(const char *msg, char out[WS_SHA256_HEX])
{
    ws_sha256_hex(msg, strlen(msg), out);
}

TEST(sha256_fips180_2)
{
    char hex[WS_SHA256_HEX];

    sha_hex("abc", hex);
    ASSERT_STR_EQ(hex, "ba7816bf8f01cfea414140de5dae2223"
                       "b00361a396177a9cb410ff61f20015ad");
    sha_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", hex);
    ASSERT_STR_EQ(hex, "248d6a61d20638b8e5c026930c3e6039"
                       "a33ce45964ff2167f6ecedd419db06c1");
    sha_hex("", hex);
    ASSERT_STR_EQ(hex, "e3b0c44298fc1c149afbf4c8996fb924"
                       "27ae41e4649b934ca495991b7852b855");
}

TEST(sha256_million_a_streamed)
{
    static const size_t pieces[] = {1, 55, 56, 63, 64, 65, 1000, 4096};
    char a[4096], hex[WS_SHA256_HEX];
    uint8_t d[WS_SHA256_LEN], one[WS_SHA256_LEN];
    struct ws_sha256 h;
    size_t left = 1000000;

    memset(a, 'a', sizeof(a));
    ws_sha256_init(&h);
    for (size_t i = 0; left > 0; i++) {
        size_t n = pieces[i % (sizeof(pieces) / sizeof(pieces[0]))];
        n = n < left ? n : left;
        ws_sha256_update(&h, a, n);
        ws_sha256_update(&h, NULL, 0);
        left -= n;
    }
    ws_sha256_final(&h, d);
    ws_hex(d, sizeof(d), hex);
    ASSERT_STR_EQ(hex, "cdc76e5c9914fb9281a1c7e284d73e67"
                       "f1809a48a497200e046d39ccc7112cd0");
    ws_sha256(a, 100, d);
    ws_sha256_init(&h);
    ws_sha256_update(&h, a, 100);
    ws_sha256_final(&h, one);
    ASSERT_MEM_EQ(d, one, sizeof(d));
}

static void hmac_hex(const void *key, size_t nkey, const char *msg,
                     char out[WS_SHA256_HEX])
{
    uint8_t d[WS_SHA256_LEN];

    ws_hmac_sha256(key, nkey, msg, strlen(msg), d);
    ws_hex(d, sizeof(d), out);
}

TEST(hmac_sha256_rfc4231)
{
    uint8_t k[131];
    char hex[WS_SHA256_HEX];

    memset(k, 0x0b, 20); /* test case 1 */
    hmac_hex(k, 20, "Hi There", hex);
    ASSERT_STR_EQ(hex, "b0344c61d8db38535ca8afceaf0bf12b"
                       "881dc200c9833da726e9376c2e32cff7");
    hmac_hex("Jefe", 4, "what do ya want for nothing?", hex); /* case 2 */
    ASSERT_STR_EQ(hex, "5bdcc146bf60754e6a042426089575c7"
                       "5a003f089d2739839dec58b964ec3843");
    memset(k, 0xaa, sizeof(k)); /* case 6: a key longer than a block */
    hmac_hex(k, sizeof(k),
             "Test Using Larger Than Block-Size Key - Hash Key First", hex);
    ASSERT_STR_EQ(hex, "60e431591ee0b67f0d8a26aacbf5b77f"
                       "8e0bc6213728c5140546040f0ee37f54");
    hmac_hex(k, sizeof(k), /* case 7: and longer data */
             "This is a test using a larger than block-size key and a "
             "larger than block-size data. The key needs to be hashed "
             "before being used by the HMAC algorithm.",
             hex);
    ASSERT_STR_EQ(hex, "9b09ffa71b942fcb27635fbcd5b0e944"
                       "bfdc63644f0713938a7f51535c3a35e2");
}

TEST(hmac_sha256_key_is_output)
{
    uint8_t key[WS_SHA256_LEN], want[WS_SHA256_LEN];

    memset(key, 0x0b, sizeof(key));
    ws_hmac_sha256(key, sizeof(key), "Hi There", 8, want);
    ws_hmac_sha256(key, sizeof(key), "Hi There", 8, key);
    ASSERT_MEM_EQ(key, want, sizeof(key));
}

TEST(md5_rfc1321)
{
    static const char *const v[][2] = {
        {"", "d41d8cd98f00b204e9800998ecf8427e"},
        {"a", "0cc175b9c0f1b6a831c399e269772661"},
        {"abc", "900150983cd24fb0d6963f7d28e17f72"},
        {"message digest", "f96b697d7cb7938d525a2f31aaf161d0"},
        {"abcdefghijklmnopqrstuvwxyz", "c3fcd3d76192e4007dfb496cca67e13b"},
        {"1234567890123456789012345678901234567890123456789012345678901234"
         "5678901234567890",
         "57edf4a22be3c955ac49da2e2107b67a"},
    };

    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        struct ws_md5 h;
        uint8_t d[WS_MD5_LEN];
        char hex[2 * WS_MD5_LEN + 1];
        size_t n = strlen(v[i][0]), half = n / 2;

        ws_md5_init(&h);
        ws_md5_update(&h, v[i][0], half);
        ws_md5_update(&h, v[i][0] + half, n - half);
        ws_md5_final(&h, d);
        ws_hex(d, sizeof(d), hex);
        ASSERT_STR_EQ(hex, v[i][1]);
    }
}

TEST(base64_rfc4648)
{
    static const char *const v[][2] = {
        {"", ""},         {"f", "Zg=="},         {"fo", "Zm8="},
        {"foo", "Zm9v"},  {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="},
        {"foobar", "Zm9vYmFy"},
    };
    char out[16];

    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        ws_base64((const uint8_t *)v[i][0], strlen(v[i][0]), out);
        ASSERT_STR_EQ(out, v[i][1]);
    }
}

#define LIST(X)                                                                \
    X(sha256_fips180_2)                                                        \
    X(sha256_million_a_streamed)                                               \
    X(hmac_sha256_rfc4231)                                                     \
    X(hmac_sha256_key_is_output)                                               \
    X(md5_rfc1321)                                                             \
    X(base64_rfc4648)

TEST_MAIN("digest", LIST)
