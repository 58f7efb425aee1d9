/* The built-in permissions and the 16 system roles of an EHR deployment.
 * Each role holds the least it needs for its job (docs/policy.md explains
 * each choice); a policy file may define roles of its own that inherit
 * from these, but may not change them, so every deployment starts from the
 * same reviewed baseline. */
#include "policy/builtin.h"

#include <stddef.h>

const char *const pg_builtin_permissions[] = {
    /* Clinical records, by FHIR resource family. */
    "patient:read", "patient:write",
    "observation:read", "observation:write",
    "encounter:read", "encounter:write",
    "condition:read", "condition:write",
    "medication:read", "medication:prescribe", "medication:dispense",
    "lab:read", "lab:write",
    "imaging:read", "imaging:write",
    "schedule:read", "schedule:write",
    "billing:read", "billing:write",
    /* Reading PHI fields in clear, by category (the rest is masked). */
    "phi:read:demographics", "phi:read:identifiers", "phi:read:contact", "phi:read:clinical",
    "phi:read:financial",
    /* Records management and research. */
    "records:export", "records:amend", "research:read_deidentified",
    /* The patient's own record (the backend scopes it to the patient). */
    "self:read",
    /* Administration. */
    "audit:read", "security:read", "security:manage", "users:manage", "system:configure",
    /* Machine-to-machine integration. */
    "integration:write",
    NULL,
};

#define P(...) ((const char *const[]){__VA_ARGS__, NULL})

const struct pg_builtin_role pg_builtin_roles[] = {
    {"system_owner", "Accountable owner; emergency (break-glass) access; no routine clinical access", true,
     true, P("audit:read", "security:read", "system:configure")},
    {"security_admin", "Runs security: users, sessions, alerts; no clinical data", false, true,
     P("security:read", "security:manage", "users:manage", "audit:read")},
    {"it_admin", "Operates the system; no clinical data, no audit trail", false, true, P("system:configure")},
    {"compliance_auditor", "Reads the audit trail and security status; no clinical data", false, true,
     P("audit:read", "security:read")},
    {"physician", "Full clinical record of patients in care, prescribing", false, true,
     P("patient:read", "patient:write", "observation:read", "observation:write", "encounter:read",
       "encounter:write", "condition:read", "condition:write", "medication:read", "medication:prescribe",
       "lab:read", "imaging:read", "schedule:read", "phi:read:demographics", "phi:read:identifiers",
       "phi:read:contact", "phi:read:clinical")},
    {"nurse", "Clinical care: vitals and notes, medication administration records", false, false,
     P("patient:read", "observation:read", "observation:write", "encounter:read", "encounter:write",
       "condition:read", "medication:read", "lab:read", "schedule:read", "phi:read:demographics",
       "phi:read:contact", "phi:read:clinical")},
    {"pharmacist", "Medication orders and dispensing", false, false,
     P("patient:read", "medication:read", "medication:dispense", "condition:read", "lab:read",
       "phi:read:demographics", "phi:read:clinical")},
    {"lab_technician", "Laboratory orders and results", false, false,
     P("patient:read", "lab:read", "lab:write", "observation:read", "observation:write", "phi:read:demographics")},
    {"radiology_technician", "Imaging orders and studies", false, false,
     P("patient:read", "imaging:read", "imaging:write", "phi:read:demographics")},
    {"front_desk", "Registration and scheduling: demographics and contact, no clinical data", false, false,
     P("patient:read", "patient:write", "schedule:read", "schedule:write", "phi:read:demographics",
       "phi:read:contact")},
    {"billing", "Claims and payments: financial data; identifiers masked", false, false,
     P("patient:read", "encounter:read", "billing:read", "billing:write", "phi:read:financial")},
    {"medical_records", "Releases and amends records (HIM); exports", false, true,
     P("patient:read", "observation:read", "encounter:read", "condition:read", "medication:read", "lab:read",
       "imaging:read", "records:export", "records:amend", "phi:read:demographics", "phi:read:identifiers",
       "phi:read:contact", "phi:read:clinical")},
    {"researcher", "De-identified data only: every PHI field stays masked", false, false,
     P("research:read_deidentified", "observation:read", "condition:read")},
    {"patient", "Their own record through the portal", false, false, P("self:read")},
    {"service_account", "Integrations (interfaces, devices): writes observations, no PHI in clear", false,
     false, P("integration:write", "observation:write")},
    {"read_only", "Reads clinical summaries; PHI masked", false, false,
     P("patient:read", "observation:read", "encounter:read")},
    {NULL, NULL, false, false, NULL},
};
