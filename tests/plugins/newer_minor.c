/* A test-only plugin built for a newer minor version of this phiguard's
 * ABI (one more than the header's): it may use services this phiguard does
 * not have, so it must be refused before its entry point runs. */
#define DECLARED_ABI PHG_ABI_VERSION(PHG_ABI_MAJOR, PHG_ABI_MINOR + 1)
#define PLUGIN_NAME "newer_minor"
#include "wrong_abi.c"
