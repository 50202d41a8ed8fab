/*
 * json.h: JSON string encoding, for the commands' -json output and for
 * JSON log lines.
 *
 * Any byte string becomes a valid JSON string: '"' and '\' are escaped,
 * control characters (C0, DEL and C1) become \n, \t or \u00XX, so that
 * none reaches a terminal raw, and every byte that does
 * not start a valid UTF-8 sequence (overlong forms, surrogates and code
 * points past U+10FFFF are invalid) becomes \ufffd, so that any JSON
 * parser accepts the result.  Encoding goes one sequence at a time, so a
 * caller can write to a stream or fill a bounded buffer without ever
 * cutting an escape in half.
 */
#ifndef WS_JSON_H
#define WS_JSON_H

#include <stddef.h>

/* The longest encoding of one sequence ("\ufffd", "\u001f"). */
#define WS_JSON_SEQ_MAX 6

/* Encode the sequence at s[0..n) (n > 0) into out, which is not
 * NUL-terminated.  Returns the length of the encoding; *used is the
 * number of input bytes it stands for (1 to 4). */
size_t ws_json_seq(const char *s, size_t n, char out[WS_JSON_SEQ_MAX],
                   size_t *used);

/* The length of the valid UTF-8 sequence at s (n > 0 bytes left), or 0
 * when s does not start one. */
size_t ws_utf8_seq(const unsigned char *s, size_t n);

#endif
