/*
 * test_err: messages are one line of text whatever they quote, and the
 * exit status follows from the code and the place (err.h).
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

/* The place is set once, by the innermost code that knows, kept by a
 * wrap and forgotten by a new error; the table of err.h, case by case. */
TEST(exit_status)
{
    struct ws_err e = {0};

    ASSERT_EQ(ws_exit_status(WS_OK, &e), 0);
    ws_err_set(&e, WS_EUSAGE, "bad flag");
    ASSERT_EQ(ws_exit_status(WS_EUSAGE, &e), 2);
    ws_err_set(&e, WS_ECONFIG, "walship.yml:3: unknown key");
    ASSERT_EQ(ws_exit_status(WS_ECONFIG, &e), 3);
    /* A 403 or a missing bucket: CONFIG, at the replica. */
    ASSERT_EQ(ws_err_at(&e, WS_AT_REPLICA), WS_ECONFIG);
    ws_err_at(&e, WS_AT_DB); /* the inner place stays */
    ws_err_wrap(&e, "replica s3");
    ASSERT_EQ(e.at, WS_AT_REPLICA);
    ASSERT_EQ(ws_exit_status(WS_ECONFIG, &e), 5);
    ws_err_set(&e, WS_EREMOTE, "connection refused");
    ASSERT_EQ(e.at, WS_AT_NONE);
    ASSERT_EQ(ws_exit_status(WS_EREMOTE, &e), 5);
    ws_err_set(&e, WS_ENOTFOUND, "replica dir does not exist");
    ws_err_at(&e, WS_AT_REPLICA);
    ASSERT_EQ(ws_exit_status(WS_ENOTFOUND, &e), 5);
    ws_err_set(&e, WS_ENOTFOUND, "database does not exist");
    ws_err_at(&e, WS_AT_DB);
    ASSERT_EQ(ws_exit_status(WS_ENOTFOUND, &e), 4);
    ws_err_set(&e, WS_ECONFIG, "another walship holds the database");
    ws_err_at(&e, WS_AT_DB);
    ASSERT_EQ(ws_exit_status(WS_ECONFIG, &e), 4);
    ws_err_set(&e, WS_ENOTFOUND, "config file not found: /etc/walship.yml");
    ws_err_at(&e, WS_AT_CONFIG);
    ASSERT_EQ(ws_exit_status(WS_ENOTFOUND, &e), 3);
    ws_err_set(&e, WS_ESQLITE, "file is not a database");
    ASSERT_EQ(ws_exit_status(WS_ESQLITE, &e), 4);
    ws_err_set(&e, WS_ECORRUPT, "bad page size");
    ws_err_at(&e, WS_AT_DB);
    ASSERT_EQ(ws_exit_status(WS_ECORRUPT, &e), 4);
    ws_err_set(&e, WS_ECORRUPT, "checksum mismatch");
    ASSERT_EQ(ws_exit_status(WS_ECORRUPT, &e), 6);
    ws_err_at(&e, WS_AT_REPLICA);
    ASSERT_EQ(ws_exit_status(WS_ECORRUPT, &e), 6);
    ws_err_set(&e, WS_ENOTFOUND, "no matching backups found");
    ASSERT_EQ(ws_exit_status(WS_ENOTFOUND, &e), 1);
    ASSERT_EQ(ws_exit_status(WS_ENOMEM, NULL), 1);
    ws_err_at(&e, WS_AT_DB);
    /* An err about another failure says nothing about this one. */
    ASSERT_EQ(ws_exit_status(WS_EIO, &e), 1);
    ws_err_clear(&e);
    ASSERT_EQ(e.at, WS_AT_NONE);
}

#define LIST(X) X(one_line_no_controls) X(exit_status)

TEST_MAIN("err", LIST)
