/*
 * test_err: messages are one line of text whatever they quote (err.h).
 */
#include "check.h"
#include "ws/err.h"

TEST(one_line_no_controls)
{
    struct ws_err e;

    ws_err_set(&e, WS_EREMOTE, "s3 said: %s", "a\nb\rc\x1b[2Jd\x07\x7f");
    ASSERT_STR_EQ(e.msg, "s3 said: a b c?[2Jd??");
    ws_err_wrap(&e, "key %s", "x\ty");
    ASSERT_STR_EQ(e.msg, "key x?y: s3 said: a b c?[2Jd??");
    ASSERT_EQ(e.code, WS_EREMOTE);
    /* C1 controls in UTF-8 (U+009B is a CSI), then other UTF-8, which
     * passes. */
    ws_err_set(&e, WS_EIO, "a\xc2\x9b" "31m\xc2\x85z\xc2\xa0");
    ASSERT_STR_EQ(e.msg, "a??31m??z\xc2\xa0");
    ws_err_set(&e, WS_EIO, "%s", "gr\xc3\xbc\xc3\x9f");
    ASSERT_STR_EQ(e.msg, "gr\xc3\xbc\xc3\x9f");
}

#define LIST(X) X(one_line_no_controls)

TEST_MAIN("err", LIST)
