/* Loading policies (policy/load*.c, policy/compile.c, policy/reach.c):
 * malformed policies, each with every error it must produce, exactly, with
 * its line:column; what a valid policy compiles to; the sample policy. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/policy.h"

struct bad {
    const char *name;
    const char *yaml;
    const char *errors[3]; /* every error, in order, after "t.yaml:" */
};

static const struct bad bad_policies[] = {
    {"empty file",
     "",
     {"1:1: expected a mapping at the top level (version, roles, routes, ...)"}},
    {"list at top",
     "- a\n",
     {"1:1: expected a mapping at the top level (version, roles, routes, ...)"}},
    {"yaml syntax",
     "version: [1\n",
     {"2:1: YAML syntax error: did not find expected ',' or ']' while parsing a flow sequence"}},
    {"tab indentation",
     "version: 1\n"
     "routes:\n"
     "\t- {}\n",
     {"3:1: YAML syntax error: found character that cannot start any token while scanning for the next token"}},
    {"no version",
     "routes:\n"
     "  - {methods: [GET], path: /a, public: true}\n",
     {"1:1: version: missing (required): this is schema version 1, write version: 1"}},
    {"wrong version",
     "version: 2\n"
     "routes:\n"
     "  - {methods: [GET], path: /a, public: true}\n",
     {"1:10: version: unsupported schema version '2' (this phiguard reads version 1)"}},
    {"unknown top key",
     "version: 1\n"
     "routez: []\n"
     "routes:\n"
     "  - {methods: [GET], path: /a, public: true}\n",
     {"2:1: routez: unknown key (expected one of: version, revision, permissions, roles, routes, sessions, lockout, rate_limits, login_limits, break_glass)"}},
    {"duplicate top key",
     "version: 1\n"
     "version: 1\n"
     "routes:\n"
     "  - {methods: [GET], path: /a, public: true}\n",
     {"2:1: version: duplicate key (first at line 1)"}},
    {"long revision",
     "version: 1\n"
     "revision: xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n"
     "routes:\n"
     "  - {methods: [GET], path: /a, public: true}\n",
     {"2:11: revision: longer than 64 characters"}},
    {"no routes",
     "version: 1\n",
     {"1:1: routes: missing (required): with no routes every request is denied"}},
    {"routes not a list",
     "version: 1\n"
     "routes: {a: 1}\n",
     {"2:9: routes: expected a list of routes"}},
    {"route not a mapping",
     "version: 1\n"
     "routes:\n"
     "  - /a\n",
     {"3:5: routes[0]: expected a mapping"}},
    {"unknown route key",
     "version: 1\n"
     "routes:\n"
     "  - {methods: [GET], path: /a, public: true, colour: red}\n",
     {"3:46: routes[0].colour: unknown key (expected one of: name, methods, path, permissions, public, mode, when, phi, entity, track_changes)"}},
    {"duplicate route key",
     "version: 1\n"
     "routes:\n"
     "  - {methods: [GET], path: /a, path: /b, public: true}\n",
     {"3:32: routes[0].path: duplicate key (first at line 3)"}},
    {"missing path",
     "version: 1\n"
     "routes:\n"
     "  - {methods: [GET], public: true}\n",
     {"3:5: routes[0].path: missing (required)"}},
    {"relative path",
     "version: 1\n"
     "routes:\n"
     "  - {methods: [GET], path: a/b, public: true}\n",
     {"3:28: routes[0].path: expected a path starting with /"}},
    {"globstar not last",
     "version: 1\n"
     "routes:\n"
     "  - {methods: [GET], path: /a/**/b, public: true}\n",
     {"3:28: routes[0].path: ** may only be the last segment"}},
    {"star inside a segment",
     "version: 1\n"
     "routes:\n"
     "  - {methods: [GET], path: /a/b*, public: true}\n",
     {"3:28: routes[0].path: * stands for a whole segment: /a/*/b, not /a/b*"}},
    {"bad param",
     "version: 1\n"
     "routes:\n"
     "  - {methods: [GET], path: \"/a/{b-c}\", public: true}\n",
     {"3:28: routes[0].path: a parameter name has letters, digits and _ only"}},
    {"param named twice",
     "version: 1\n"
     "routes:\n"
     "  - {methods: [GET], path: \"/a/{id}/b/{id}\", public: true}\n",
     {"3:28: routes[0].path: parameter {id} is named twice"}},
    {"empty segment",
     "version: 1\n"
     "routes:\n"
     "  - {methods: [GET], path: /a//b, public: true}\n",
     {"3:28: routes[0].path: empty path segment"}},
    {"trailing slash",
     "version: 1\n"
     "routes:\n"
     "  - {methods: [GET], path: /a/, public: true}\n",
     {"3:28: routes[0].path: no trailing / (a trailing slash is the same path)"}},
    {"percent in literal",
     "version: 1\n"
     "routes:\n"
     "  - {methods: [GET], path: /a%20b, public: true}\n",
     {"3:28: routes[0].path: '%' is not allowed in a literal segment"}},
    {"no methods",
     "version: 1\n"
     "routes:\n"
     "  - {path: /a, public: true}\n",
     {"3:5: routes[0].methods: missing (required): a list such as [GET, HEAD], or \"*\" for every method"}},
    {"unknown method",
     "version: 1\n"
     "routes:\n"
     "  - {methods: [GET, FETCH], path: /a, public: true}\n",
     {"3:21: routes[0].methods: unknown method 'FETCH' (GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS, or \"*\")"}},
    {"method twice",
     "version: 1\n"
     "routes:\n"
     "  - {methods: [GET, GET], path: /a, public: true}\n",
     {"3:21: routes[0].methods: 'GET' is listed twice"}},
    {"empty methods",
     "version: 1\n"
     "routes:\n"
     "  - {methods: [], path: /a, public: true}\n",
     {"3:15: routes[0].methods: an empty list matches nothing: name the methods, or \"*\""}},
    {"no permissions",
     "version: 1\n"
     "routes:\n"
     "  - {methods: [GET], path: /a}\n",
     {"3:5: routes[0].permissions: missing: a route needs permissions, or public: true"}},
    {"empty permissions",
     "version: 1\n"
     "routes:\n"
     "  - {methods: [GET], path: /a, permissions: []}\n",
     {"3:45: routes[0].permissions: an empty list would let any signed-in user through; name a permission"}},
    {"public with permissions",
     "version: 1\n"
     "routes:\n"
     "  - {methods: [GET], path: /a, public: true, permissions: [patient:read]}\n",
     {"3:59: routes[0].permissions: a public route takes no permissions"}},
    {"undefined permission",
     "version: 1\n"
     "routes:\n"
     "  - {methods: [GET], path: /a, permissions: [patient:read, patient:sing]}\n",
     {"3:60: routes[0].permissions: undefined permission 'patient:sing' (built-in, or declared under permissions:)"}},
    {"undefined permission, block list",
     "version: 1\n"
     "routes:\n"
     "  - methods: [GET]\n"
     "    path: /a\n"
     "    permissions:\n"
     "      - patient:read\n"
     "      - patient:sing\n",
     {"7:9: routes[0].permissions: undefined permission 'patient:sing' (built-in, or declared under permissions:)"}},
    {"bad mode",
     "version: 1\n"
     "routes:\n"
     "  - {methods: [GET], path: /a, public: true, mode: loud}\n",
     {"3:52: routes[0].mode: expected enforce or shadow"}},
    {"public not bool",
     "version: 1\n"
     "routes:\n"
     "  - {methods: [GET], path: /a, public: yes}\n",
     {"3:40: routes[0].public: expected true or false"}},
    {"when not a mapping",
     "version: 1\n"
     "routes:\n"
     "  - {methods: [GET], path: /a, public: true, when: [x]}\n",
     {"3:52: routes[0].when: expected a mapping"}},
    {"unknown when key",
     "version: 1\n"
     "routes:\n"
     "  - {methods: [GET], path: /a, public: true, when: {cookie: {a: b}}}\n",
     {"3:53: routes[0].when.cookie: unknown key (expected one of: query, headers)"}},
    {"condition without value",
     "version: 1\n"
     "routes:\n"
     "  - {methods: [GET], path: /a, public: true, when: {query: {a: [1]}}}\n",
     {"3:64: routes[0].when.query.a: expected the value it must equal"}},
    {"header condition twice",
     "version: 1\n"
     "routes:\n"
     "  - {methods: [GET], path: /a, public: true, when: {headers: {X-A: 1, x-a: 2}}}\n",
     {"3:71: routes[0].when.headers.x-a: duplicate key (header names ignore case)"}},
    {"shadowed route, same shape",
     "version: 1\n"
     "routes:\n"
     "  - {methods: [GET, POST], path: \"/p/{id}\", public: true}\n"
     "  - {methods: [GET], path: \"/p/{pid}\", permissions: [patient:read]}\n",
     {"4:5: routes[1]: unreachable: the route at line 3 (/p/{id}) matches every request this one does and is tried first"}},
    {"shadowed route, param before star",
     "version: 1\n"
     "routes:\n"
     "  - {methods: [GET], path: \"/p/{id}\", permissions: [patient:read]}\n"
     "  - {methods: [GET], path: \"/p/*\", permissions: [lab:read]}\n",
     {"4:5: routes[1]: unreachable: the route at line 3 (/p/{id}) matches every request this one does and is tried first"}},
    {"shadowed route, methods split",
     "version: 1\n"
     "routes:\n"
     "  - {methods: [GET], path: \"/p/**\", permissions: [patient:read]}\n"
     "  - {methods: [POST], path: \"/p/**\", permissions: [patient:write]}\n"
     "  - {methods: [GET, POST], path: \"/p/**\", permissions: [lab:read]}\n",
     {"5:5: routes[2]: unreachable: the routes at lines 3, 4 together match every request this one does and are tried first"}},
    {"shadowed route, fewer conditions first",
     "version: 1\n"
     "routes:\n"
     "  - {methods: [GET], path: /t, permissions: [patient:read], when: {query: {a: \"1\"}}}\n"
     "  - {methods: [GET], path: /t, permissions: [lab:read], when: {query: {a: \"1\", b: \"2\"}}}\n",
     {"4:5: routes[1]: unreachable: the route at line 3 (/t) matches every request this one does and is tried first"}},
    {"shadowed shadow rule",
     "version: 1\n"
     "routes:\n"
     "  - {methods: [GET], path: /t, permissions: [patient:read]}\n"
     "  - {methods: [GET], path: /t, permissions: [lab:read], mode: shadow}\n",
     {"4:5: routes[1]: unreachable: the route at line 3 (/t) matches every request this one does and is tried first"}},
    {"duplicate route name",
     "version: 1\n"
     "routes:\n"
     "  - {name: r, methods: [GET], path: /a, public: true}\n"
     "  - {name: r, methods: [GET], path: /b, public: true}\n",
     {"4:12: routes[1].name: 'r' is already the name of the route at line 3"}},
    {"undefined role in inherits",
     "version: 1\n"
     "roles:\n"
     "  clerk: {inherits: [nurse, nurze]}\n"
     "routes:\n"
     "  - {methods: [GET], path: /a, public: true}\n",
     {"3:29: roles.clerk.inherits: undefined role 'nurze'"}},
    {"redefine builtin",
     "version: 1\n"
     "roles:\n"
     "  nurse: {permissions: [patient:read]}\n"
     "routes:\n"
     "  - {methods: [GET], path: /a, public: true}\n",
     {"3:3: roles.nurse: a built-in role cannot be redefined or extended; define a new role that inherits it"}},
    {"bad role name",
     "version: 1\n"
     "roles:\n"
     "  Clerk: {inherits: [nurse]}\n"
     "routes:\n"
     "  - {methods: [GET], path: /a, public: true}\n",
     {"3:3: roles: 'Clerk' is not a role name (a lower-case letter, then letters, digits, _; at most 64)"}},
    {"duplicate role",
     "version: 1\n"
     "roles:\n"
     "  clerk: {inherits: [nurse]}\n"
     "  clerk: {inherits: [billing]}\n"
     "routes:\n"
     "  - {methods: [GET], path: /a, public: true}\n",
     {"4:3: roles.clerk: duplicate key (first at line 3)"}},
    {"role not a mapping",
     "version: 1\n"
     "roles:\n"
     "  clerk: [nurse]\n"
     "routes:\n"
     "  - {methods: [GET], path: /a, public: true}\n",
     {"3:10: roles.clerk: expected a mapping with permissions and/or inherits"}},
    {"inheritance cycle",
     "version: 1\n"
     "roles:\n"
     "  a: {inherits: [b]}\n"
     "  b: {inherits: [c]}\n"
     "  c: {inherits: [a]}\n"
     "routes:\n"
     "  - {methods: [GET], path: /a, public: true}\n",
     {"3:3: roles.a: inheritance cycle: a -> b -> c -> a"}},
    {"inherits itself",
     "version: 1\n"
     "roles:\n"
     "  a: {inherits: [a]}\n"
     "routes:\n"
     "  - {methods: [GET], path: /a, public: true}\n",
     {"3:17: roles.a.inherits: a role cannot inherit itself"}},
    {"role with nothing",
     "version: 1\n"
     "roles:\n"
     "  clerk: {description: x}\n"
     "routes:\n"
     "  - {methods: [GET], path: /a, public: true}\n",
     {"3:10: roles.clerk: a role needs permissions or inherits"}},
    {"unknown role key",
     "version: 1\n"
     "roles:\n"
     "  clerk: {inherits: [nurse], powers: [x]}\n"
     "routes:\n"
     "  - {methods: [GET], path: /a, public: true}\n",
     {"3:30: roles.clerk.powers: unknown key (expected one of: inherits, permissions, description, emergency, mfa_required)"}},
    {"undefined role permission",
     "version: 1\n"
     "roles:\n"
     "  clerk: {permissions: [fly:high]}\n"
     "routes:\n"
     "  - {methods: [GET], path: /a, public: true}\n",
     {"3:25: roles.clerk.permissions: undefined permission 'fly:high' (built-in, or declared under permissions:)"}},
    {"role emergency not bool",
     "version: 1\n"
     "roles:\n"
     "  clerk: {inherits: [nurse], emergency: maybe}\n"
     "routes:\n"
     "  - {methods: [GET], path: /a, public: true}\n",
     {"3:41: roles.clerk.emergency: expected true or false"}},
    {"bad permission name",
     "version: 1\n"
     "permissions: [Export]\n"
     "routes:\n"
     "  - {methods: [GET], path: /a, public: true}\n",
     {"2:15: permissions: 'Export' is not a permission name (expected lower-case words joined by ':', e.g. export:bulk)"}},
    {"permission defined twice",
     "version: 1\n"
     "permissions: [patient:read]\n"
     "routes:\n"
     "  - {methods: [GET], path: /a, public: true}\n",
     {"2:15: permissions: 'patient:read' is already defined"}},
    {"phi without entity",
     "version: 1\n"
     "routes:\n"
     "  - methods: [GET]\n"
     "    path: /p\n"
     "    permissions: [patient:read]\n"
     "    phi: {response: [{path: $.name, read: phi:read:demographics}]}\n",
     {"6:10: routes[0].phi: PHI fields need the route's entity (e.g. entity: Patient) to name them"}},
    {"unknown phi direction",
     "version: 1\n"
     "routes:\n"
     "  - methods: [GET]\n"
     "    path: /p\n"
     "    entity: Patient\n"
     "    permissions: [patient:read]\n"
     "    phi: {reply: []}\n",
     {"7:11: routes[0].phi.reply: unknown key (expected one of: request, response, query, path)"}},
    {"bad selector",
     "version: 1\n"
     "routes:\n"
     "  - methods: [GET]\n"
     "    path: /p\n"
     "    entity: Patient\n"
     "    permissions: [patient:read]\n"
     "    phi: {response: [{path: name, read: phi:read:demographics}]}\n",
     {"7:29: routes[0].phi.response[0].path: a selector starts with $ (e.g. $.name[*].family)"}},
    {"bad selector step",
     "version: 1\n"
     "routes:\n"
     "  - methods: [GET]\n"
     "    path: /p\n"
     "    entity: Patient\n"
     "    permissions: [patient:read]\n"
     "    phi: {response: [{path: \"$.name[0]\", read: phi:read:demographics}]}\n",
     {"7:29: routes[0].phi.response[0].path: unexpected '[' at position 7: expected .key, ..key or [*]"}},
    {"selector of everything",
     "version: 1\n"
     "routes:\n"
     "  - methods: [GET]\n"
     "    path: /p\n"
     "    entity: Patient\n"
     "    permissions: [patient:read]\n"
     "    phi: {response: [{path: \"$[*]\", read: phi:read:demographics}]}\n",
     {"7:29: routes[0].phi.response[0].path: $[*] selects the whole body or whole array elements; name a field"}},
    {"selectors past the DFA limit",
     "version: 1\n"
     "routes:\n"
     "  - methods: [GET]\n"
     "    path: /p\n"
     "    entity: Patient\n"
     "    permissions: [patient:read]\n"
     "    phi: {response: [{path: \"$..k0..v\", read: phi:read:contact}, {path: \"$..k1..v\", read: phi:read:contact}, {path: \"$..k2..v\", read: phi:read:contact}, {path: \"$..k3..v\", read: phi:read:contact}, {path: \"$..k4..v\", read: phi:read:contact}, {path: \"$..k5..v\", read: phi:read:contact}, {path: \"$..k6..v\", read: phi:read:contact}, {path: \"$..k7..v\", read: phi:read:contact}, {path: \"$..k8..v\", read: phi:read:contact}, {path: \"$..k9..v\", read: phi:read:contact}, {path: \"$..k10..v\", read: phi:read:contact}, {path: \"$..k11..v\", read: phi:read:contact}, {path: \"$..k12..v\", read: phi:read:contact}]}\n",
     {"7:21: routes[0].phi.response: these fields' selectors combine into more than 4096 matcher states (each "
      "'..' step multiplies them): use fewer '..' steps"}},
    {"same selector twice",
     "version: 1\n"
     "routes:\n"
     "  - methods: [GET]\n"
     "    path: /p\n"
     "    entity: Patient\n"
     "    permissions: [patient:read]\n"
     "    phi: {response: [{path: $.name, read: phi:read:demographics}, {path: $.name, read: phi:read:contact}]}\n",
     {"7:74: routes[0].phi.response[1].path: selects the same field as the one at line 7"}},
    {"phi read missing",
     "version: 1\n"
     "routes:\n"
     "  - methods: [GET]\n"
     "    path: /p\n"
     "    entity: Patient\n"
     "    permissions: [patient:read]\n"
     "    phi: {response: [{path: $.name}]}\n",
     {"7:22: routes[0].phi.response[0].read: missing (required)"}},
    {"phi read undefined",
     "version: 1\n"
     "routes:\n"
     "  - methods: [GET]\n"
     "    path: /p\n"
     "    entity: Patient\n"
     "    permissions: [patient:read]\n"
     "    phi: {response: [{path: $.name, read: phi:read:souls}]}\n",
     {"7:43: routes[0].phi.response[0].read: undefined permission 'phi:read:souls'"}},
    {"phi bad others",
     "version: 1\n"
     "routes:\n"
     "  - methods: [GET]\n"
     "    path: /p\n"
     "    entity: Patient\n"
     "    permissions: [patient:read]\n"
     "    phi: {response: [{path: $.name, read: phi:read:demographics, others: hide}]}\n",
     {"7:74: routes[0].phi.response[0].others: expected mask, redact or deny"}},
    {"phi bad mask",
     "version: 1\n"
     "routes:\n"
     "  - methods: [GET]\n"
     "    path: /p\n"
     "    entity: Patient\n"
     "    permissions: [patient:read]\n"
     "    phi: {response: [{path: $.ssn, read: phi:read:identifiers, mask: first4}]}\n",
     {"7:70: routes[0].phi.response[0].mask: expected all or lastN (N from 1 to 9)"}},
    {"mask with redact",
     "version: 1\n"
     "routes:\n"
     "  - methods: [GET]\n"
     "    path: /p\n"
     "    entity: Patient\n"
     "    permissions: [patient:read]\n"
     "    phi: {response: [{path: $.ssn, read: phi:read:identifiers, others: redact, mask: last4}]}\n",
     {"7:86: routes[0].phi.response[0].mask: applies only when others is mask"}},
    {"normalize without searchable",
     "version: 1\n"
     "routes:\n"
     "  - methods: [GET]\n"
     "    path: /p\n"
     "    entity: Patient\n"
     "    permissions: [patient:read]\n"
     "    phi: {response: [{path: $.ssn, read: phi:read:identifiers, normalize: digits}]}\n",
     {"7:75: routes[0].phi.response[0].normalize: applies only to searchable fields (add searchable: true)"}},
    {"bad field name",
     "version: 1\n"
     "routes:\n"
     "  - methods: [GET]\n"
     "    path: /p\n"
     "    entity: Patient\n"
     "    permissions: [patient:read]\n"
     "    phi: {response: [{path: $.ssn, field: ssn, read: phi:read:identifiers}]}\n",
     {"7:43: routes[0].phi.response[0].field: 'ssn' is not a field name (Entity.key.key, e.g. Patient.identifier.value)"}},
    {"field encrypted two ways",
     "version: 1\n"
     "routes:\n"
     "  - methods: [GET]\n"
     "    path: /p\n"
     "    entity: Patient\n"
     "    permissions: [patient:read]\n"
     "    phi: {response: [{path: $.ssn, read: phi:read:identifiers, searchable: true}]}\n"
     "  - methods: [POST]\n"
     "    path: /p\n"
     "    entity: Patient\n"
     "    permissions: [patient:write]\n"
     "    phi: {request: [{path: $.ssn, read: phi:read:identifiers}]}\n",
     {"12:21: routes[1].phi.request[0]: Patient.ssn is searchable: false, normalize: none here but searchable: true, normalize: none at line 7; a field is encrypted one way everywhere"}},
    {"path segment that is not a parameter",
     "version: 1\n"
     "routes:\n"
     "  - methods: [GET]\n"
     "    path: /p/{ssn}\n"
     "    entity: Patient\n"
     "    permissions: [patient:read]\n"
     "    phi: {path: [{param: id, field: Patient.ssn}], response: [{path: $.ssn, read: phi:read:identifiers, searchable: true}]}\n",
     {"7:26: routes[0].phi.path[0].param: 'id' is not a {param} of the route's path"}},
    {"path segment of a field that is not searchable",
     "version: 1\n"
     "routes:\n"
     "  - methods: [GET]\n"
     "    path: /p/{ssn}\n"
     "    entity: Patient\n"
     "    permissions: [patient:read]\n"
     "    phi: {path: [{param: ssn, field: Patient.ssn}], response: [{path: $.ssn, read: phi:read:identifiers}]}\n",
     {"7:18: routes[0].phi.path[0].field: 'Patient.ssn' is not a searchable PHI field of any route (declare it with searchable: true)"}},
    {"tracked route without a resource",
     "version: 1\n"
     "routes:\n"
     "  - methods: [PUT]\n"
     "    path: /p/**\n"
     "    entity: Patient\n"
     "    permissions: [patient:write]\n"
     "    track_changes: true\n",
     {"7:20: routes[0].track_changes: needs the route's entity and a {param} naming the resource (e.g. /fhir/Patient/{id})"}},
    {"tracked route that changes nothing",
     "version: 1\n"
     "routes:\n"
     "  - methods: [GET]\n"
     "    path: /p/{id}\n"
     "    entity: Patient\n"
     "    permissions: [patient:read]\n"
     "    track_changes: true\n",
     {"7:20: routes[0].track_changes: applies to PUT, PATCH and DELETE; the route allows none of them"}},
    {"query of a field that is not searchable",
     "version: 1\n"
     "routes:\n"
     "  - methods: [GET]\n"
     "    path: /p\n"
     "    entity: Patient\n"
     "    permissions: [patient:read]\n"
     "    phi:\n"
     "      response: [{path: $.ssn, read: phi:read:identifiers}]\n"
     "      query: [{param: ssn, field: Patient.ssn}]\n",
     {"9:15: routes[0].phi.query[0].field: 'Patient.ssn' is not a searchable PHI field of any route (declare it with searchable: true)"}},
    {"bad session duration",
     "version: 1\n"
     "routes:\n"
     "  - {methods: [GET], path: /a, public: true}\n"
     "sessions: {idle_timeout: soon}\n",
     {"4:26: sessions.idle_timeout: expected a duration such as 30s, 30m, 12h or 1d"}},
    {"session duration out of range",
     "version: 1\n"
     "routes:\n"
     "  - {methods: [GET], path: /a, public: true}\n"
     "sessions: {absolute_lifetime: 90d}\n",
     {"4:31: sessions.absolute_lifetime: 90d is out of range (1s to 30d)"}},
    {"idle longer than lifetime",
     "version: 1\n"
     "routes:\n"
     "  - {methods: [GET], path: /a, public: true}\n"
     "sessions: {idle_timeout: 2h, absolute_lifetime: 1h}\n",
     {"4:26: sessions.idle_timeout: an idle timeout of 7200 s is longer than the absolute lifetime of 3600 s"}},
    {"bad on_limit",
     "version: 1\n"
     "routes:\n"
     "  - {methods: [GET], path: /a, public: true}\n"
     "sessions: {on_limit: panic}\n",
     {"4:22: sessions.on_limit: expected refuse or end_oldest"}},
    {"lockout out of range",
     "version: 1\n"
     "routes:\n"
     "  - {methods: [GET], path: /a, public: true}\n"
     "lockout: {max_failures: 0}\n",
     {"4:25: lockout.max_failures: 0 is out of range (1 to 100)"}},
    {"lockout not a number",
     "version: 1\n"
     "routes:\n"
     "  - {methods: [GET], path: /a, public: true}\n"
     "lockout: {max_failures: five}\n",
     {"4:25: lockout.max_failures: expected a whole number"}},
    {"unknown lockout key",
     "version: 1\n"
     "routes:\n"
     "  - {methods: [GET], path: /a, public: true}\n"
     "lockout: {tries: 5}\n",
     {"4:11: lockout.tries: unknown key (expected one of: max_failures, window, duration)"}},
    {"break-glass role undefined",
     "version: 1\n"
     "routes:\n"
     "  - {methods: [GET], path: /a, public: true}\n"
     "break_glass: {roles: [physician, surgeon]}\n",
     {"4:34: break_glass.roles: undefined role 'surgeon'"}},
    {"break-glass grant undefined",
     "version: 1\n"
     "routes:\n"
     "  - {methods: [GET], path: /a, public: true}\n"
     "break_glass: {grants: [patient:read, all:everything]}\n",
     {"4:38: break_glass.grants: undefined permission 'all:everything' (built-in, or declared under permissions:)"}},
    {"break-glass bad header",
     "version: 1\n"
     "routes:\n"
     "  - {methods: [GET], path: /a, public: true}\n"
     "break_glass: {header: \"X Reason\"}\n",
     {"4:23: break_glass.header: 'X Reason' is not a header name (letters, digits and -)"}},
    {"rate limit bad rate",
     "version: 1\n"
     "routes:\n"
     "  - {methods: [GET], path: /a, public: true}\n"
     "rate_limits:\n"
     "  - {name: a, key: [ip], rate: fast}\n",
     {"5:32: rate_limits[0].rate: expected a rate such as 100/s, 30/m or 1000/h"}},
    {"rate limit no rate",
     "version: 1\n"
     "routes:\n"
     "  - {methods: [GET], path: /a, public: true}\n"
     "rate_limits:\n"
     "  - {name: a, key: [ip]}\n",
     {"5:5: rate_limits[0].rate: missing (required): a rate such as 100/s, 30/m or 1000/h"}},
    {"rate limit bad key",
     "version: 1\n"
     "routes:\n"
     "  - {methods: [GET], path: /a, public: true}\n"
     "rate_limits:\n"
     "  - {name: a, key: [mood], rate: 1/s}\n",
     {"5:21: rate_limits[0].key: unknown key 'mood' (ip, user, session, route)"}},
    {"rate limit bad scope",
     "version: 1\n"
     "routes:\n"
     "  - {methods: [GET], path: /a, public: true}\n"
     "rate_limits:\n"
     "  - {name: a, key: [ip], rate: 1/s, scope: galactic}\n",
     {"5:44: rate_limits[0].scope: expected local or global"}},
    {"rate limit unknown route",
     "version: 1\n"
     "routes:\n"
     "  - {methods: [GET], path: /a, public: true}\n"
     "rate_limits:\n"
     "  - {name: a, key: [ip], rate: 1/s, route: nowhere}\n",
     {"5:44: rate_limits[0].route: no route is named 'nowhere'"}},
    {"rate limit undefined role",
     "version: 1\n"
     "routes:\n"
     "  - {methods: [GET], path: /a, public: true}\n"
     "rate_limits:\n"
     "  - {name: a, key: [user], rate: 1/s, roles: [researcher, intern]}\n",
     {"5:59: rate_limits[0].roles: undefined role 'intern'"}},
    {"rate limit name twice",
     "version: 1\n"
     "routes:\n"
     "  - {methods: [GET], path: /a, public: true}\n"
     "rate_limits:\n"
     "  - {name: a, key: [ip], rate: 1/s}\n"
     "  - {name: a, key: [user], rate: 1/s}\n",
     {"6:12: rate_limits[1].name: 'a' is already the name of the limit at line 5"}},
    {"rate limit name not a token",
     "version: 1\n"
     "routes:\n"
     "  - {methods: [GET], path: /a, public: true}\n"
     "rate_limits:\n"
     "  - {name: \"per ip\", key: [ip], rate: 1/s}\n",
     {"5:12: rate_limits[0].name: 'per ip' is not a limit name (1 to 64 letters, digits, '.', '_', '-')"}},
    {"rate limit name of a login limit",
     "version: 1\n"
     "routes:\n"
     "  - {methods: [GET], path: /a, public: true}\n"
     "rate_limits:\n"
     "  - {name: login-ip, key: [ip], rate: 1/s}\n",
     {"5:12: rate_limits[0].name: 'login-ip' is the name of a login limit (login_limits:)"}},
    {"rate limit too fast",
     "version: 1\n"
     "routes:\n"
     "  - {methods: [GET], path: /a, public: true}\n"
     "rate_limits:\n"
     "  - {name: a, key: [route], rate: 200000/s}\n",
     {"5:35: rate_limits[0].rate: faster than 100000/s, the fastest rate a limit keeps"}},
    {"login limits unknown key",
     "version: 1\n"
     "routes:\n"
     "  - {methods: [GET], path: /a, public: true}\n"
     "login_limits:\n"
     "  ip: {rate: 10/m}\n"
     "  email: {rate: 10/m}\n",
     {"6:3: login_limits.email: unknown key (expected one of: ip, username)"}},
    {"login limits bad values",
     "version: 1\n"
     "routes:\n"
     "  - {methods: [GET], path: /a, public: true}\n"
     "login_limits:\n"
     "  ip: {rate: lots, burst: 0}\n"
     "  username: {rate: 5/m, scope: everywhere}\n",
     {"5:14: login_limits.ip.rate: expected a rate such as 100/s, 30/m or 1000/h",
      "5:27: login_limits.ip.burst: 0 is out of range (1 to 1000000)",
      "6:32: login_limits.username.scope: expected local or global"}},
};

static void test_malformed_policies(void **state)
{
    (void)state;
    int n = (int)(sizeof bad_policies / sizeof bad_policies[0]);
    assert_true(n >= 30);
    for (int i = 0; i < n; i++) {
        struct pg_policy_errors errs = {0};
        const struct bad *b = &bad_policies[i];
        struct pg_policy *p = pg_policy_load_buffer("t.yaml", b->yaml, strlen(b->yaml), &errs);
        if (p)
            fail_msg("%s: loaded", b->name);
        int want = 0;
        while (want < 3 && b->errors[want])
            want++;
        bool same = errs.count == want;
        for (int k = 0; same && k < want; k++) {
            char full[600];
            snprintf(full, sizeof full, "t.yaml:%s", b->errors[k]);
            same = strcmp(errs.items[k], full) == 0;
        }
        if (!same) {
            for (int k = 0; k < errs.count; k++)
                print_error("  got:  %s\n", errs.items[k]);
            for (int k = 0; k < want; k++)
                print_error("  want: t.yaml:%s\n", b->errors[k]);
            fail_msg("%s: errors differ", b->name);
        }
        pg_policy_errors_free(&errs);
    }
}

static struct pg_policy *load(const char *yaml)
{
    struct pg_policy_errors errs = {0};
    struct pg_policy *p = pg_policy_load_buffer("t.yaml", yaml, strlen(yaml), &errs);
    for (int k = 0; k < errs.count; k++)
        print_error("%s\n", errs.items[k]);
    pg_policy_errors_free(&errs);
    return p;
}

static void test_every_error_is_reported(void **state)
{
    (void)state;
    const char *y = "version: 1\nroles:\n  a: {inherits: [zz]}\nroutes:\n  - {methods: [GIT], path: x}\n"
                    "sessions: {idle_timeout: never}\n";
    struct pg_policy_errors errs = {0};
    assert_null(pg_policy_load_buffer("t.yaml", y, strlen(y), &errs));
    assert_int_equal(errs.count, 5);
    assert_string_equal(errs.items[0], "t.yaml:3:18: roles.a.inherits: undefined role 'zz'");
    assert_string_equal(errs.items[1], "t.yaml:5:28: routes[0].path: expected a path starting with /");
    assert_string_equal(errs.items[4], "t.yaml:6:26: sessions.idle_timeout: expected a duration such as 30s, 30m, "
                                       "12h or 1d");
    pg_policy_errors_free(&errs);
}

static void test_errors_are_capped(void **state)
{
    (void)state;
    /* A hostile file: one error per line, far more than an admin reads. */
    size_t cap = 64 * 3000 + 64;
    char *y = malloc(cap);
    size_t len = (size_t)snprintf(y, cap, "version: 1\nroutes:\n");
    for (int i = 0; i < 3000; i++)
        len += (size_t)snprintf(y + len, cap - len, "  - {methods: [GET], path: nope, public: true}\n");
    struct pg_policy_errors errs = {0};
    assert_null(pg_policy_load_buffer("t.yaml", y, len, &errs));
    assert_int_equal(errs.count, PG_POLICY_MAX_ERRORS);
    assert_int_equal(pg_policy_errors_total(&errs), 3000);
    pg_policy_errors_free(&errs);
    free(y);
}

static void test_builtin_roles(void **state)
{
    (void)state;
    struct pg_policy *p = load("version: 1\nroutes:\n  - {methods: [GET], path: /, public: true}\n");
    assert_non_null(p);
    static const char *const names[] = {"system_owner", "security_admin", "it_admin", "compliance_auditor",
                                        "physician", "nurse", "pharmacist", "lab_technician",
                                        "radiology_technician", "front_desk", "billing", "medical_records",
                                        "researcher", "patient", "service_account", "read_only"};
    assert_int_equal(p->nroles, 16);
    for (int i = 0; i < 16; i++) {
        int r = pg_policy_role_index(p, names[i]);
        assert_true(r >= 0);
        assert_true(p->roles[r].builtin);
    }
    /* Least privilege, spot checks: no clinical data for administrators. */
    int patient_read = pg_policy_perm_index(p, "patient:read");
    assert_false(pg_permset_has(&p->roles[pg_policy_role_index(p, "it_admin")].effective, patient_read));
    assert_false(pg_permset_has(&p->roles[pg_policy_role_index(p, "security_admin")].effective, patient_read));
    assert_false(pg_permset_has(&p->roles[pg_policy_role_index(p, "researcher")].effective,
                                pg_policy_perm_index(p, "phi:read:identifiers")));
    assert_null(p->revision);
    pg_policy_unref(p);
}

static void test_inheritance_and_flags(void **state)
{
    (void)state;
    struct pg_policy *p = load("version: 1\nrevision: 2026-11-23.2\npermissions: [export:bulk]\n"
                               "roles:\n"
                               "  lead: {inherits: [charge], permissions: [export:bulk]}\n"
                               "  charge: {inherits: [nurse], permissions: [phi:read:identifiers], emergency: true}\n"
                               "routes:\n  - {methods: [GET], path: /, public: true}\n");
    assert_non_null(p);
    assert_string_equal(p->revision, "2026-11-23.2");
    const struct pg_role *lead = &p->roles[pg_policy_role_index(p, "lead")];
    const struct pg_role *charge = &p->roles[pg_policy_role_index(p, "charge")];
    /* Inherited through two levels, declared after use. */
    assert_true(pg_permset_has(&lead->effective, pg_policy_perm_index(p, "observation:write")));
    assert_true(pg_permset_has(&lead->effective, pg_policy_perm_index(p, "phi:read:identifiers")));
    assert_true(pg_permset_has(&lead->effective, pg_policy_perm_index(p, "export:bulk")));
    assert_false(pg_permset_has(&lead->direct, pg_policy_perm_index(p, "observation:write")));
    /* Break-glass is granted by name only; MFA follows privilege. */
    assert_true(charge->emergency);
    assert_false(lead->emergency);
    const struct pg_role *phys_child;
    pg_policy_unref(p);
    p = load("version: 1\nroles:\n  doc: {inherits: [physician]}\n"
             "routes:\n  - {methods: [GET], path: /, public: true}\n");
    assert_non_null(p);
    phys_child = &p->roles[pg_policy_role_index(p, "doc")];
    assert_true(phys_child->mfa_required);
    pg_policy_unref(p);
}

static void test_parameters(void **state)
{
    (void)state;
    struct pg_policy *p = load("version: 1\nroutes:\n  - {name: x, methods: [GET], path: /x, public: true}\n");
    assert_non_null(p);
    /* Defaults. */
    assert_int_equal(p->params.idle_timeout_ms, 30 * 60 * 1000);
    assert_int_equal(p->params.absolute_lifetime_ms, 12 * 3600 * 1000);
    assert_int_equal(p->params.max_concurrent, 3);
    assert_int_equal(p->params.lockout_max_failures, 5);
    assert_string_equal(p->params.break_glass_header, "X-Break-Glass-Reason");
    assert_true(pg_permset_has(&p->params.break_glass_grants, pg_policy_perm_index(p, "patient:read")));
    assert_false(pg_permset_has(&p->params.break_glass_grants, pg_policy_perm_index(p, "patient:write")));
    /* The login endpoint is limited even when the policy says nothing. */
    assert_true(p->params.login_ip.rate_per_sec == 0.5);
    assert_int_equal(p->params.login_ip.burst, 30);
    assert_int_equal(p->params.login_ip.scope, PG_SCOPE_GLOBAL);
    assert_true(p->params.login_username.rate_per_sec > 0.166 && p->params.login_username.rate_per_sec < 0.167);
    assert_int_equal(p->params.login_username.burst, 10);
    assert_int_equal(p->params.login_username.scope, PG_SCOPE_GLOBAL);
    pg_policy_unref(p);
    /* One of the two given: the other keeps its default. */
    p = load("version: 1\nroutes:\n  - {name: x, methods: [GET], path: /x, public: true}\n"
             "login_limits:\n  username: {rate: 3/m, burst: 2, scope: local}\n");
    assert_non_null(p);
    assert_true(p->params.login_username.rate_per_sec == 0.05);
    assert_int_equal(p->params.login_username.burst, 2);
    assert_int_equal(p->params.login_username.scope, PG_SCOPE_LOCAL);
    assert_int_equal(p->params.login_ip.burst, 30);
    pg_policy_unref(p);
    p = load("version: 1\nroutes:\n  - {name: x, methods: [GET], path: /x, public: true}\n"
             "sessions: {idle_timeout: 10m, absolute_lifetime: 8h, max_concurrent: 1, on_limit: end_oldest,\n"
             "           end_on_ip_change: true}\n"
             "lockout: {max_failures: 3, window: 5m, duration: 1h}\n"
             "break_glass: {header: X-Emergency, window: 30m, reason_min_length: 20, roles: [physician],\n"
             "              grants: [patient:read]}\n"
             "rate_limits:\n  - {name: r, key: [user, route], scope: global, rate: 30/m, burst: 5, route: x,\n"
             "     roles: [researcher]}\n");
    assert_non_null(p);
    assert_int_equal(p->params.idle_timeout_ms, 600000);
    assert_int_equal(p->params.absolute_lifetime_ms, 8 * 3600000);
    assert_int_equal(p->params.max_concurrent, 1);
    assert_int_equal(p->params.on_limit, PG_ON_LIMIT_END_OLDEST);
    assert_true(p->params.end_on_ip_change);
    assert_int_equal(p->params.lockout_max_failures, 3);
    assert_int_equal(p->params.lockout_window_ms, 300000);
    assert_int_equal(p->params.lockout_duration_ms, 3600000);
    assert_string_equal(p->params.break_glass_header, "X-Emergency");
    assert_int_equal(p->params.break_glass_window_ms, 1800000);
    assert_int_equal(p->params.break_glass_reason_min, 20);
    assert_int_equal(p->params.nbreak_glass_roles, 1);
    assert_false(pg_permset_has(&p->params.break_glass_grants, pg_policy_perm_index(p, "lab:read")));
    assert_int_equal(p->nrate_rules, 1);
    const struct pg_rate_rule *rr = &p->rate_rules[0];
    assert_int_equal(rr->key, PG_RK_USER | PG_RK_ROUTE);
    assert_int_equal(rr->scope, PG_SCOPE_GLOBAL);
    assert_true(rr->rate_per_sec > 0.49 && rr->rate_per_sec < 0.51);
    assert_int_equal(rr->burst, 5);
    assert_int_equal(rr->route_index, 0);
    assert_int_equal(rr->nroles, 1);
    assert_int_equal(rr->roles[0], pg_policy_role_index(p, "researcher"));
    pg_policy_unref(p);
}

static void test_phi_fields(void **state)
{
    (void)state;
    struct pg_policy *p = load("version: 1\nroutes:\n"
                               "  - methods: [GET]\n    path: /fhir/Patient\n    entity: Patient\n"
                               "    permissions: [patient:read]\n"
                               "    phi:\n"
                               "      response:\n"
                               "        - {path: \"$.entry[*].resource.identifier[*].value\", field: "
                               "Patient.identifier.value,\n"
                               "           read: phi:read:identifiers, searchable: true, normalize: digits, mask: last4}\n"
                               "        - {path: $..family, read: phi:read:demographics, others: redact}\n"
                               "      query: [{param: identifier, field: Patient.identifier.value}]\n");
    assert_non_null(p);
    const struct pg_route *r = &p->routes[0];
    assert_int_equal(r->nphi_response, 2);
    assert_string_equal(r->phi_response[0].logical_path, "Patient.identifier.value");
    assert_true(r->phi_response[0].searchable);
    assert_int_equal(r->phi_response[0].normalize, PG_NORM_DIGITS);
    assert_int_equal(r->phi_response[0].mask_keep_last, 4);
    assert_int_equal(r->phi_response[0].others, PG_PHI_MASK);
    assert_int_equal(r->phi_response[0].line, 9);
    assert_string_equal(r->phi_response[1].logical_path, "Patient.**.family");
    assert_int_equal(r->phi_response[1].others, PG_PHI_REDACT);
    assert_non_null(r->sel_response);
    assert_null(r->sel_request);
    assert_int_equal(r->nphi_query, 1);
    assert_string_equal(r->phi_query[0].param, "identifier");
    assert_int_equal(r->phi_query[0].normalize, PG_NORM_DIGITS); /* taken from the field */
    assert_ptr_equal(pg_policy_find_field(p, "Patient.identifier.value"), &r->phi_response[0]);
    assert_null(pg_policy_find_field(p, "Patient.nothing"));
    pg_policy_unref(p);
}

static void test_refcount(void **state)
{
    (void)state;
    struct pg_policy *p = load("version: 1\nroutes:\n  - {methods: [GET], path: /, public: true}\n");
    assert_non_null(p);
    assert_ptr_equal(pg_policy_ref(p), p);
    pg_policy_unref(p);
    assert_int_equal(atomic_load(&p->refs), 1);
    pg_policy_unref(p);
}

static void test_sample_policy_loads(void **state)
{
    (void)state;
    char path[512];
    snprintf(path, sizeof path, "%s/conf/policy.yaml", getenv("PHIGUARD_SOURCE_DIR"));
    struct pg_policy_errors errs = {0};
    struct pg_policy *p = pg_policy_load(path, &errs);
    for (int k = 0; k < errs.count; k++)
        print_error("%s\n", errs.items[k]);
    assert_non_null(p);
    assert_int_equal(strlen(p->sha256), 64);
    assert_true(pg_policy_role_index(p, "physician") >= 0);
    assert_true(pg_policy_role_index(p, "charge_nurse") >= 0);
    assert_true(pg_policy_route_index(p, "patient-read") >= 0);
    pg_policy_unref(p);
    pg_policy_errors_free(&errs);
}

static void test_missing_file(void **state)
{
    (void)state;
    struct pg_policy_errors errs = {0};
    assert_null(pg_policy_load("/nonexistent/policy.yaml", &errs));
    assert_int_equal(errs.count, 1);
    assert_string_equal(errs.items[0], "/nonexistent/policy.yaml:1:1: cannot open: No such file or directory");
    pg_policy_errors_free(&errs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_malformed_policies),  cmocka_unit_test(test_every_error_is_reported),
        cmocka_unit_test(test_errors_are_capped),   cmocka_unit_test(test_builtin_roles),
        cmocka_unit_test(test_inheritance_and_flags), cmocka_unit_test(test_parameters),
        cmocka_unit_test(test_phi_fields),          cmocka_unit_test(test_refcount),
        cmocka_unit_test(test_sample_policy_loads), cmocka_unit_test(test_missing_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
