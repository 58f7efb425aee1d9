#include <string.h>

#include "match.h"

static const char *const names[PD_KINDS] = {"ssn", "mrn", "phone", "email"};

const char *pd_kind_name(enum pd_kind k)
{
    return (unsigned)k < PD_KINDS ? names[k] : "?";
}

int pd_kind_from_name(const char *name, size_t len)
{
    for (int k = 0; k < PD_KINDS; k++)
        if (strlen(names[k]) == len && memcmp(names[k], name, len) == 0)
            return k;
    return -1;
}
