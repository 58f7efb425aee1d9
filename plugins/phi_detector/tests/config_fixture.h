/* Test helper: a parsed configuration from a JSON text, or a failure. */
#ifndef PHI_DETECTOR_TEST_CONFIG_FIXTURE_H
#define PHI_DETECTOR_TEST_CONFIG_FIXTURE_H
#include "config.h"

#define NOTE_CONFIG                                                                                                  \
    "{\"fields\":[{\"selector\":\"$.note[*].text\",\"name\":\"Observation.note.text\"},"                            \
    "{\"selector\":\"$.conclusion\",\"name\":\"DiagnosticReport.conclusion\"}],"                                    \
    "\"patterns\":{\"ssn\":{\"mask\":\"last4\"},\"mrn\":{},\"phone\":{\"mask\":\"last4\"},\"email\":{}},"            \
    "\"read_permission\":\"phi:read:notes\"}"

static inline struct pd_config config_of(const char *json)
{
    struct pd_config c;
    char err[256];
    if (pd_config_parse(json, &c, err, sizeof err) != 0) {
        print_error("config: %s\n", err);
        fail();
    }
    return c;
}
#endif
