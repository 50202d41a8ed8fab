/*
 * test_secret.c: masking secrets in text and the process flag (secret.h),
 * an S3 client's credentials masked in a server's words (s3.h), and the
 * credential check at set-up (sigv4.h).
 */
#include "ws/s3.h"
#include "ws/secret.h"
#include "ws/sigv4.h"

#include "check.h"

#include <sys/prctl.h>

TEST(mask)
{
    char a[] = "key AKIAXYZ and AKIAXYZ, AKIAXY";
    char b[] = "ab";
    char c[] = "xxx";
    char d[] = "aaaa";

    ws_mask(a, "AKIAXYZ", 7, "[redacted]");
    ASSERT_STR_EQ(a, "key [redact and [redact, AKIAXY");
    ws_mask(b, "ab", 2, "...");
    ASSERT_STR_EQ(b, "..");
    ws_mask(c, "", 0, "[redacted]");
    ASSERT_STR_EQ(c, "xxx");
    /* Occurrences are replaced left to right, never overlapping. */
    ws_mask(d, "aa", 2, "*");
    ASSERT_STR_EQ(d, "**");
}

TEST(hide_process)
{
    ASSERT_EQ(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0), 1);
    ASSERT_EQ(ws_secret_hide_process(), 0);
    ASSERT_EQ(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0), 0);
}

TEST(check_keys)
{
    struct ws_err err = {0};
    char long_sk[WS_SIGV4_MAX_SECRET + 2];

    memset(long_sk, 'S', sizeof(long_sk) - 1);
    long_sk[sizeof(long_sk) - 1] = '\0';
    ASSERT_EQ(ws_sigv4_check_keys("AKIAOK", "a", "secret", "s", &err), WS_OK);
    ASSERT_EQ(ws_sigv4_check_keys("AKIA SECRETLY", "access-key-id", "s",
                                  "secret-access-key", &err),
              WS_ECONFIG);
    ASSERT_STR_CONTAINS(err.msg, "access-key-id is not an access key ID");
    ASSERT(strstr(err.msg, "SECRETLY") == NULL);
    ASSERT_EQ(ws_sigv4_check_keys("AKIAOK", "a", long_sk,
                                  "AWS_SECRET_ACCESS_KEY", &err),
              WS_ECONFIG);
    ASSERT_STR_CONTAINS(err.msg, "AWS_SECRET_ACCESS_KEY is empty or longer");
    ASSERT(strstr(err.msg, "SSSS") == NULL);
    ASSERT_EQ(ws_sigv4_check_keys("AKIAOK", "a", "", "s", &err), WS_ECONFIG);
}

TEST(s3_masked)
{
    struct ws_s3 s;
    char *m;

    memset(&s, 0, sizeof(s));
    s.ak = "AKIAKEY1";
    s.sk = "sekrit/+=";
    /* A token that holds the key ID: masked whole, longest first. */
    s.token = "tokAKIAKEY1tok";
    m = ws_s3_masked(&s, "id AKIAKEY1 sk sekrit/+= tok tokAKIAKEY1tok "
                         "again sekrit/+=sekrit/+=");
    ASSERT(m != NULL);
    ASSERT_STR_EQ(m, "id [redacte sk [redacted tok [redacted] again "
                     "[redacted[redacted");
    free(m);
    /* No token, a key ID too short to be worth masking. */
    s.token = NULL;
    s.ak = "AK1";
    m = ws_s3_masked(&s, "AK1 sekrit/+=");
    ASSERT_STR_EQ(m, "AK1 [redacted");
    free(m);
    /* Echoed as a URL carries it, upper- or lower-case hex. */
    m = ws_s3_masked(&s, "q=sekrit%2F%2B%3D&r=sekrit%2f%2b%3d.");
    ASSERT(m != NULL);
    ASSERT(strstr(m, "sekrit") == NULL);
    ASSERT(strstr(m, "%2") == NULL && strstr(m, "%3") == NULL);
    free(m);
}

#define LIST(X)                                                             \
    X(mask)                                                                 \
    X(hide_process)                                                         \
    X(s3_masked)                                                            \
    X(check_keys)

TEST_MAIN("secret", LIST)
