/*
 * fuzz_text_parse.c - libFuzzer target for the rating text parser.
 * The first input byte picks the format, --skip-bad and the csv delimiter;
 * the rest is the file.  Checks the result's invariants on success.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tributary/data.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    static const char delims[] = {',', ';', '|', ' '};
    trib_text_opts_t o = TRIB_TEXT_OPTS_INIT;
    o.format = (trib_text_format_t)(data[0] & 3);
    o.skip_bad = (data[0] >> 2) & 1;
    o.header = (data[0] >> 3) & 1;
    if (o.format == TRIB_TEXT_CSV)
        o.delimiter = delims[(data[0] >> 4) & 3];
    else
        o.header = 0;
    trib_text_result_t r;
    if (trib_text_parse((const char *)data + 1, size - 1, &o, &r) == TRIB_OK) {
        if (r.ratings.n == 0)
            abort();
        for (size_t i = 0; i < r.ratings.n; i++)
            if (r.ratings.user[i] >= trib_idmap_size(r.users) || r.ratings.item[i] >= trib_idmap_size(r.items) ||
                !(r.ratings.rating[i] == r.ratings.rating[i]))
                abort();
        trib_text_result_free(&r);
    }
    return 0;
}
