/* libFuzzer target: opening envelopes, which arrive from the upstream in
 * responses (anything it stored, or was made to store). Never a crash,
 * never a wrong "ok". */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "policy/envelope.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct pg_phi_key keys[2];
    static int ready;
    if (!ready) {
        unsigned char s1[32] = {1}, s2[32] = {2};
        pg_phi_key_init(&keys[0], "k1", s1);
        pg_phi_key_init(&keys[1], "k2", s2);
        ready = 1;
    }
    char out[256], type = 0;
    size_t n = 0;
    enum pg_envelope_result r =
        pg_envelope_open(keys, 2, "Patient.name.family", (const char *)data, size, &type, out, sizeof out, &n);
    if (r == PG_ENVELOPE_OK && (n >= sizeof out || (type != 's' && type != 'n' && type != 'b')))
        __builtin_trap();
    return 0;
}
