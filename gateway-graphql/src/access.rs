//! Who may call what, for every root field of the schema, in one table. Deny by default: a
//! root field without a rule here is refused, and a test fails when the schema has one.
//!
//! Rules are checked once the document validated and before anything executes, so a refused
//! request touches no service. Ownership (a patient reading only their own data) is checked by the
//! services, which see the caller's token too.

use std::{
    collections::{BTreeSet, HashSet},
    sync::{Arc, Mutex},
};

use async_graphql::{
    Request, Response, ServerError, ServerResult, ValidationResult, Variables,
    extensions::{
        Extension, ExtensionContext, ExtensionFactory, NextParseQuery, NextPrepareRequest,
        NextRequest, NextValidation,
    },
    parser::types::{ExecutableDocument, OperationType, Selection, SelectionSet},
};
use svc_kit::auth::{Principal, Role};

use crate::{
    document::{MAX_ALIASES, MAX_EXPANDED_SELECTIONS, Oversize, check_document},
    errors::ErrorCode,
};

/// Who may select a root field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone, signed in or not. Only for data that concerns no one (versions, service health).
    Public,
    /// Any signed-in caller.
    Authenticated,
    /// A caller holding at least one of these realm roles.
    AnyRole(&'static [Role]),
}

/// Every root field and its rule: (root type, field, access).
pub const RULES: &[(&str, &str, Access)] = &[
    // Service names and up/down status, no user data: the first thing an operator or a new
    // engineer asks, signed in or not.
    ("Query", "meshHealth", Access::Public),
    ("Query", "version", Access::Public),
    ("Subscription", "meshHealth", Access::Public),
    // Accounts. svc-accounts checks again, and decides whose data a caller reaches.
    ("Query", "me", Access::AnyRole(&Role::ALL)),
    ("Query", "user", Access::AnyRole(&Role::ALL)),
    ("Query", "users", Access::AnyRole(ADMIN)),
    ("Query", "auditEvents", Access::AnyRole(ADMIN)),
    ("Query", "myDataExport", Access::AnyRole(&Role::ALL)),
    ("Mutation", "updateProfile", Access::AnyRole(&Role::ALL)),
    // Visitors register themselves; the gateway calls with its own token, and svc-accounts
    // grants nothing but the patient role this way.
    ("Mutation", "registerPatient", Access::Public),
    ("Mutation", "setRoles", Access::AnyRole(ADMIN)),
    ("Mutation", "addAffiliation", Access::AnyRole(ADMIN)),
    ("Mutation", "removeAffiliation", Access::AnyRole(ADMIN)),
    ("Mutation", "deactivateUser", Access::AnyRole(ADMIN)),
    ("Mutation", "eraseMyAccount", Access::AnyRole(&Role::ALL)),
    // Scheduling. svc-scheduling checks again, and decides whose appointments a caller reaches.
    ("Query", "clinics", Access::AnyRole(&Role::ALL)),
    ("Query", "clinic", Access::AnyRole(&Role::ALL)),
    ("Query", "cabinets", Access::AnyRole(&Role::ALL)),
    ("Query", "specializations", Access::AnyRole(&Role::ALL)),
    ("Query", "doctors", Access::AnyRole(&Role::ALL)),
    ("Query", "doctor", Access::AnyRole(&Role::ALL)),
    ("Query", "freeSlots", Access::AnyRole(&Role::ALL)),
    ("Query", "schedule", Access::AnyRole(STAFF)),
    ("Query", "appointment", Access::AnyRole(BOOKERS)),
    ("Query", "appointments", Access::AnyRole(BOOKERS)),
    ("Query", "appointmentConfirmation", Access::AnyRole(BOOKERS)),
    ("Query", "waitlist", Access::AnyRole(BOOKERS)),
    (
        "Subscription",
        "doctorAvailability",
        Access::AnyRole(&Role::ALL),
    ),
    ("Mutation", "saveClinic", Access::AnyRole(ADMIN)),
    ("Mutation", "createCabinet", Access::AnyRole(ADMIN)),
    ("Mutation", "createSpecialization", Access::AnyRole(ADMIN)),
    ("Mutation", "updateCabinet", Access::AnyRole(ADMIN)),
    ("Mutation", "updateSpecialization", Access::AnyRole(ADMIN)),
    ("Mutation", "saveDoctor", Access::AnyRole(ADMIN)),
    (
        "Mutation",
        "addScheduleTemplate",
        Access::AnyRole(SCHEDULERS),
    ),
    (
        "Mutation",
        "removeScheduleTemplate",
        Access::AnyRole(SCHEDULERS),
    ),
    (
        "Mutation",
        "addScheduleException",
        Access::AnyRole(SCHEDULERS),
    ),
    ("Mutation", "holdSlot", Access::AnyRole(BOOKERS)),
    ("Mutation", "bookAppointment", Access::AnyRole(BOOKERS)),
    (
        "Mutation",
        "rescheduleAppointment",
        Access::AnyRole(BOOKERS),
    ),
    ("Mutation", "cancelAppointment", Access::AnyRole(BOOKERS)),
    (
        "Mutation",
        "changeAppointmentStatus",
        Access::AnyRole(STAFF),
    ),
    ("Mutation", "joinWaitlist", Access::AnyRole(BOOKERS)),
    ("Mutation", "leaveWaitlist", Access::AnyRole(BOOKERS)),
    // Pharmacy. svc-pharmacy checks again, and decides whose prescriptions and which
    // pharmacies' stock a caller reaches.
    ("Query", "pharmacies", Access::AnyRole(&Role::ALL)),
    ("Query", "pharmacy", Access::AnyRole(&Role::ALL)),
    ("Query", "medications", Access::AnyRole(&Role::ALL)),
    ("Query", "medication", Access::AnyRole(&Role::ALL)),
    ("Query", "availability", Access::AnyRole(&Role::ALL)),
    ("Query", "stock", Access::AnyRole(STOCK_READERS)),
    ("Query", "lowStock", Access::AnyRole(STOCK_READERS)),
    ("Query", "expiringLots", Access::AnyRole(STOCK_READERS)),
    ("Query", "stockMovements", Access::AnyRole(STOCK_READERS)),
    (
        "Query",
        "preferredPharmacies",
        Access::AnyRole(PATIENT_AND_DOCTOR),
    ),
    (
        "Query",
        "prescriptions",
        Access::AnyRole(PRESCRIPTION_READERS),
    ),
    (
        "Query",
        "prescription",
        Access::AnyRole(PRESCRIPTION_READERS),
    ),
    (
        "Subscription",
        "prescriptionStatus",
        Access::AnyRole(PRESCRIPTION_READERS),
    ),
    ("Mutation", "createPharmacy", Access::AnyRole(ADMIN)),
    ("Mutation", "updatePharmacy", Access::AnyRole(ADMIN)),
    ("Mutation", "createMedication", Access::AnyRole(ADMIN)),
    ("Mutation", "updateMedication", Access::AnyRole(ADMIN)),
    ("Mutation", "receiveShipment", Access::AnyRole(PHARMACIST)),
    ("Mutation", "adjustStock", Access::AnyRole(PHARMACIST)),
    (
        "Mutation",
        "setCriticalThreshold",
        Access::AnyRole(STOCK_READERS),
    ),
    (
        "Mutation",
        "setPreferredPharmacies",
        Access::AnyRole(PATIENT),
    ),
    ("Mutation", "issuePrescription", Access::AnyRole(DOCTOR)),
    ("Mutation", "cancelPrescription", Access::AnyRole(DOCTOR)),
    (
        "Mutation",
        "changePrescriptionPharmacy",
        Access::AnyRole(PATIENT_AND_DOCTOR),
    ),
    ("Mutation", "startDispensing", Access::AnyRole(PHARMACIST)),
    (
        "Mutation",
        "dispensePrescription",
        Access::AnyRole(PHARMACIST),
    ),
    (
        "Mutation",
        "rejectPrescription",
        Access::AnyRole(PHARMACIST),
    ),
    // Records, as svc-records' own table has it (svc-records/src/domain/access.rs). The
    // service checks again and decides per patient whose card a caller opens (out of reach
    // answers NOT_FOUND); admins reach the access log, never clinical content.
    ("Query", "patientCard", Access::AnyRole(RECORD_READERS)),
    ("Query", "recordEntries", Access::AnyRole(RECORD_READERS)),
    ("Query", "recordEntry", Access::AnyRole(RECORD_READERS)),
    ("Query", "accessLog", Access::AnyRole(ACCESS_LOG_READERS)),
    ("Query", "recordGrants", Access::AnyRole(GRANT_READERS)),
    ("Query", "breakGlassAccesses", Access::AnyRole(ADMIN)),
    ("Query", "accessLogIntegrity", Access::AnyRole(ADMIN)),
    ("Query", "cardExport", Access::AnyRole(PATIENT)),
    ("Mutation", "createRecordEntry", Access::AnyRole(CLINICIANS)),
    ("Mutation", "updateDraft", Access::AnyRole(CLINICIANS)),
    ("Mutation", "discardDraft", Access::AnyRole(CLINICIANS)),
    ("Mutation", "signRecordEntry", Access::AnyRole(DOCTOR)),
    ("Mutation", "amendRecordEntry", Access::AnyRole(DOCTOR)),
    ("Mutation", "grantRecordAccess", Access::AnyRole(PATIENT)),
    ("Mutation", "revokeRecordAccess", Access::AnyRole(PATIENT)),
    ("Mutation", "breakGlass", Access::AnyRole(DOCTOR)),
    // Notify. Anyone signed in as a person reads their own preferences and notifications
    // (svc-notify decides whose: the caller's own, an admin's anyone's); templates, manual
    // messages, retries and dead letters are admins'.
    (
        "Query",
        "myNotificationPreferences",
        Access::AnyRole(&Role::ALL),
    ),
    ("Query", "notificationPreferences", Access::AnyRole(ADMIN)),
    ("Query", "myNotifications", Access::AnyRole(&Role::ALL)),
    ("Query", "notifications", Access::AnyRole(ADMIN)),
    ("Query", "notification", Access::AnyRole(&Role::ALL)),
    ("Query", "notificationTemplates", Access::AnyRole(ADMIN)),
    (
        "Query",
        "previewNotificationTemplate",
        Access::AnyRole(ADMIN),
    ),
    ("Query", "notificationDeadLetters", Access::AnyRole(ADMIN)),
    (
        "Mutation",
        "updateNotificationPreferences",
        Access::AnyRole(&Role::ALL),
    ),
    (
        "Mutation",
        "putNotificationTemplate",
        Access::AnyRole(ADMIN),
    ),
    (
        "Mutation",
        "resetNotificationTemplate",
        Access::AnyRole(ADMIN),
    ),
    ("Mutation", "sendNotification", Access::AnyRole(ADMIN)),
    ("Mutation", "retryNotification", Access::AnyRole(ADMIN)),
    ("Mutation", "replayDeadLetterEvent", Access::AnyRole(ADMIN)),
];

/// Who keeps calendars: doctors their own, admins anyone's.
const SCHEDULERS: &[Role] = &[Role::Admin, Role::Doctor];
/// Clinic staff.
const STAFF: &[Role] = &[Role::Admin, Role::Doctor, Role::Nurse];
/// Who books: patients for themselves, staff for patients.
const BOOKERS: &[Role] = &[Role::Admin, Role::Doctor, Role::Nurse, Role::Patient];

const ADMIN: &[Role] = &[Role::Admin];

/// Who sees stock with quantities and sets its thresholds: pharmacists their pharmacies',
/// admins any.
const STOCK_READERS: &[Role] = &[Role::Admin, Role::Pharmacist];
/// Whose prescriptions there are: the patient's, the prescriber's, the pharmacy's.
const PRESCRIPTION_READERS: &[Role] = &[Role::Doctor, Role::Pharmacist, Role::Patient];
/// A patient's own choices, and a doctor's on a patient's behalf.
const PATIENT_AND_DOCTOR: &[Role] = &[Role::Doctor, Role::Patient];
const PHARMACIST: &[Role] = &[Role::Pharmacist];
/// Who may open a card: the patient, and the doctors and nurses the patient's record lets in.
const RECORD_READERS: &[Role] = &[Role::Doctor, Role::Nurse, Role::Patient];
/// Who writes drafts on a card (nurses: observations and lab results).
const CLINICIANS: &[Role] = &[Role::Doctor, Role::Nurse];
/// Grants of access to a card: the patient's given ones, a doctor's received ones.
const GRANT_READERS: &[Role] = &[Role::Doctor, Role::Patient];
/// Who read a record: the patient asks about their own, an admin about anyone's.
const ACCESS_LOG_READERS: &[Role] = &[Role::Admin, Role::Patient];
const DOCTOR: &[Role] = &[Role::Doctor];
const PATIENT: &[Role] = &[Role::Patient];

pub fn rule(root: &str, field: &str) -> Option<Access> {
    RULES
        .iter()
        .find(|(r, f, _)| *r == root && *f == field)
        .map(|(_, _, access)| *access)
}

fn refuse(code: ErrorCode, message: String) -> ServerError {
    let mut error = ServerError::new(message, None);
    let extensions = error.extensions.get_or_insert_with(Default::default);
    extensions.set("code", code.as_str());
    extensions.set("service", "gateway");
    error
}

/// Whether `principal` may select `root.field`.
pub fn check(root: &str, field: &str, principal: Option<&Principal>) -> Result<(), ServerError> {
    if field.starts_with("__") {
        return Ok(()); // introspection
    }
    decide(rule(root, field), principal)
        .map_err(|code| refuse(code, format!("not allowed to use {root}.{field}")))
}

/// The decision for a rule (`None`: the field has none) and a caller.
pub fn decide(access: Option<Access>, principal: Option<&Principal>) -> Result<(), ErrorCode> {
    match (access, principal) {
        (None, _) => Err(ErrorCode::Forbidden),
        (Some(Access::Public), _) => Ok(()),
        (Some(_), None) => Err(ErrorCode::Unauthenticated),
        (Some(Access::Authenticated), Some(_)) => Ok(()),
        (Some(Access::AnyRole(roles)), Some(p)) if p.holds_any(roles) => Ok(()),
        (Some(Access::AnyRole(_)), Some(_)) => Err(ErrorCode::Forbidden),
    }
}

/// The root fields a selection set selects, through fragments, each fragment visited once.
pub(crate) fn root_fields<'a>(
    document: &'a ExecutableDocument,
    set: &'a SelectionSet,
    visited: &mut HashSet<&'a str>,
    out: &mut BTreeSet<&'a str>,
) {
    for selection in &set.items {
        match &selection.node {
            Selection::Field(field) => {
                out.insert(field.node.name.node.as_str());
            }
            Selection::InlineFragment(fragment) => {
                root_fields(document, &fragment.node.selection_set.node, visited, out)
            }
            Selection::FragmentSpread(spread) => {
                let name = &spread.node.fragment_name.node;
                if visited.insert(name.as_str())
                    && let Some(fragment) = document.fragments.get(name)
                {
                    root_fields(document, &fragment.node.selection_set.node, visited, out);
                }
            }
        }
    }
}

/// The extension that applies [`RULES`] to every operation of every request, after the
/// document validated (an unknown field is bad input, not a forbidden one) and before it runs.
#[derive(Debug, Clone, Copy)]
pub struct AccessControl;

impl ExtensionFactory for AccessControl {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(AccessControlRequest::default())
    }
}

/// One request's root fields, seen when parsing, judged after validation.
#[derive(Debug, Default)]
struct AccessControlRequest {
    root_fields: Mutex<Vec<(&'static str, String)>>,
    /// The operation's label in the latency metric, once it validated: `Query.freeSlots`,
    /// or `multiple` for a document of several root fields.
    operation: Mutex<Option<String>>,
}

/// The `operation` label of a request that selected `fields`, all of them in the schema (the
/// document validated), so the label's values are bounded by the schema.
fn operation_label(fields: &[(&'static str, String)]) -> String {
    match fields {
        [(root, field)] => format!("{root}.{field}"),
        [] => "none".to_string(),
        _ => "multiple".to_string(),
    }
}

#[async_trait::async_trait]
impl Extension for AccessControlRequest {
    /// Times each request by the operation it ran (`graphql_operation_duration_seconds`):
    /// a request that did not validate is `invalid`.
    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        let start = std::time::Instant::now();
        let response = next.run(ctx).await;
        let operation = self
            .operation
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
            .unwrap_or_else(|| "invalid".to_string());
        let outcome = if response.is_ok() { "ok" } else { "error" };
        metrics::histogram!("graphql_operation_duration_seconds", "operation" => operation, "outcome" => outcome)
            .record(start.elapsed().as_secs_f64());
        response
    }

    /// Measures the document before async-graphql's own checks walk it: they walk a fragment
    /// as often as it is spread, which a small document can make astronomically often. The
    /// document parsed here is the one the request then runs (it is not parsed twice).
    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        mut request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        // A document that does not parse is reported by the parse that follows.
        if let Ok(document) = request.parsed_query() {
            match check_document(document) {
                Ok(()) => {}
                Err(Oversize::Cycle(name)) => {
                    return Err(refuse(
                        ErrorCode::BadUserInput,
                        format!("fragment {name} spreads itself"),
                    ));
                }
                Err(Oversize::TooManyAliases) => {
                    return Err(refuse(
                        ErrorCode::BadUserInput,
                        format!(
                            "an operation may alias at most {MAX_ALIASES} fields once its fragments are expanded"
                        ),
                    ));
                }
                Err(Oversize::TooLarge) => {
                    return Err(refuse(
                        ErrorCode::BadUserInput,
                        format!(
                            "the query selects more than {MAX_EXPANDED_SELECTIONS} fields once its fragments are expanded"
                        ),
                    ));
                }
            }
        }
        next.run(ctx, request).await
    }

    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let document = next.run(ctx, query, variables).await?;
        let mut seen = Vec::new();
        for (_, operation) in document.operations.iter() {
            let root = match operation.node.ty {
                OperationType::Query => "Query",
                OperationType::Mutation => "Mutation",
                OperationType::Subscription => "Subscription",
            };
            let mut fields = BTreeSet::new();
            root_fields(
                &document,
                &operation.node.selection_set.node,
                &mut HashSet::new(),
                &mut fields,
            );
            seen.extend(fields.into_iter().map(|f| (root, f.to_string())));
        }
        *self.root_fields.lock().unwrap_or_else(|e| e.into_inner()) = seen;
        Ok(document)
    }

    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        let result = next.run(ctx).await?;
        let principal = ctx.data_opt::<Principal>();
        let fields =
            std::mem::take(&mut *self.root_fields.lock().unwrap_or_else(|e| e.into_inner()));
        let refused: Vec<ServerError> = fields
            .iter()
            .filter_map(|(root, field)| check(root, field, principal).err())
            .collect();
        if refused.is_empty() {
            *self.operation.lock().unwrap_or_else(|e| e.into_inner()) =
                Some(operation_label(&fields));
            Ok(result)
        } else {
            Err(refused)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(roles: &[&str]) -> Principal {
        Principal::for_roles("s", roles, "medmesh-web")
    }

    #[test]
    fn deny_by_default_and_by_role() {
        let doctor = caller(&["doctor"]);
        let staff = Some(Access::AnyRole(&[Role::Doctor, Role::Nurse]));
        assert_eq!(
            decide(None, Some(&caller(&["admin"]))),
            Err(ErrorCode::Forbidden),
            "no rule, no access"
        );
        assert_eq!(decide(Some(Access::Public), None), Ok(()));
        assert_eq!(
            decide(Some(Access::Authenticated), None),
            Err(ErrorCode::Unauthenticated)
        );
        assert_eq!(decide(Some(Access::Authenticated), Some(&doctor)), Ok(()));
        assert_eq!(decide(staff, None), Err(ErrorCode::Unauthenticated));
        assert_eq!(decide(staff, Some(&doctor)), Ok(()));
        assert_eq!(
            decide(staff, Some(&caller(&["patient"]))),
            Err(ErrorCode::Forbidden)
        );
        assert_eq!(decide(staff, Some(&caller(&[]))), Err(ErrorCode::Forbidden));
    }

    #[test]
    fn a_field_without_a_rule_is_refused_even_to_admins() {
        let error = check("Query", "everything", Some(&caller(&["admin"]))).unwrap_err();
        let ext = serde_json::to_value(&error.extensions).unwrap();
        assert_eq!(ext["code"], "FORBIDDEN");
        assert!(
            check("Query", "__schema", None).is_ok(),
            "introspection stays open"
        );
    }
}
