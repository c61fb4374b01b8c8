//! Records in the graph: the patient card and its entries, drafts signed and amended, the
//! patient's grants, emergency access, the access log and its integrity, and the card's
//! export. Every resolver forwards the caller's bearer token; svc-records decides, per
//! patient, whose card a caller opens (out of reach answers NOT_FOUND), and logs every attempt.

mod access_mutation;
mod access_types;
mod client;
mod entry_mutation;
mod enums;
mod inputs;
mod query;
mod types;

pub use access_types::{
    AccessLogEntry, AccessLogPage, BreakGlassAccess, BreakGlassAccessPage, BrokenLink, CardExport,
    IntegrityReport, RecordGrant,
};
pub use enums::{
    AccessAction, AccessBasis, DiagnosisStatus, EntryKind, EntryStatus, ExportFormat, Severity,
};
pub use inputs::{
    AllergyInput, AmendRecordEntryInput, BreakGlassInput, CreateRecordEntryInput, DiagnosisInput,
    DiscardDraftInput, EncounterInput, EntryContentInput, GrantRecordAccessInput, ObservationInput,
    RecordDocumentInput, RevokeRecordAccessInput, SignRecordEntryInput, UpdateDraftInput,
};
pub use query::RecordsQuery;
pub use types::{
    Allergy, Diagnosis, Encounter, EntryContent, MedicationCourse, MedicationLine, Observation,
    PatientCard, RecordDocument, RecordEntry, RecordEntryPage,
};

/// Every records mutation, in the schema's order: entries, then who may open the card.
#[derive(async_graphql::MergedObject, Debug, Default)]
pub struct RecordsMutation(
    entry_mutation::RecordEntryMutation,
    access_mutation::RecordAccessMutation,
);
