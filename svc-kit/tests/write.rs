//! The write helper on PostgreSQL and on SQLite: the answer is recorded with the change, a
//! retried request gets its first answer, contention runs the change again, a reused key is
//! refused.

use std::sync::atomic::{AtomicU32, Ordering};

use prost_types::Duration as Answer;
use sea_orm::ConnectionTrait;
use svc_kit::{
    ApiError, backend_test,
    db::stmt,
    idempotency::IdempotencyKey,
    testing::{TestDb, count},
    write::{write, write_with},
};

async fn notes(test: &TestDb) {
    test.db
        .execute_raw(stmt(
            test.db.get_database_backend(),
            "CREATE TABLE notes (id TEXT PRIMARY KEY)",
            [],
        ))
        .await
        .unwrap();
}

fn key(request_id: &str, request: i64) -> IdempotencyKey {
    IdempotencyKey::new(
        "caller",
        "AddNote",
        request_id,
        &Answer {
            seconds: request,
            nanos: 0,
        },
    )
    .unwrap()
}

/// A change written as a named closure type: the helper takes any future, a boxed one too.
type Change<T> = std::pin::Pin<Box<dyn std::future::Future<Output = Result<T, ApiError>> + Send>>;

backend_test!(a_retry_gets_the_first_answer_and_acts_once, first_answer);
async fn first_answer(test: TestDb) {
    notes(&test).await;
    let key = key("r-1", 1);
    let add = |id: &'static str, seconds: i64| {
        move |txn: svc_kit::write::Txn| -> Change<Answer> {
            Box::pin(async move {
                let inserted = txn
                    .execute_raw(stmt(
                        txn.get_database_backend(),
                        "INSERT INTO notes (id) VALUES ($1) ON CONFLICT DO NOTHING",
                        [id.into()],
                    ))
                    .await?;
                if inserted.rows_affected() == 0 {
                    return Err(ApiError::AlreadyExists("the note exists".into()));
                }
                Ok(Answer { seconds, nanos: 0 })
            })
        }
    };
    let first = write(&test.db, &key, add("a", 7)).await.unwrap();
    assert_eq!(first.seconds, 7);
    // The retry meets its own note as a conflict and is answered with the first answer.
    let again = write(&test.db, &key, add("a", 8)).await.unwrap();
    assert_eq!(again, first);
    assert_eq!(count(&test.db, "SELECT COUNT(*) FROM notes").await, 1);
    assert_eq!(
        count(&test.db, "SELECT COUNT(*) FROM idempotency_keys").await,
        1
    );
    // Another key's conflict is the caller's.
    let other = write(&test.db, &self::key("r-2", 1), add("a", 9)).await;
    assert!(
        matches!(other, Err(ApiError::AlreadyExists(_))),
        "{other:?}"
    );
    // The same key for another request is refused.
    let reused = write(&test.db, &self::key("r-1", 2), add("b", 9)).await;
    assert!(
        matches!(reused, Err(ApiError::InvalidArgument(_))),
        "{reused:?}"
    );
    assert_eq!(count(&test.db, "SELECT COUNT(*) FROM notes").await, 1);
    // write_with keeps what else the change returned, and has none of it on a replay.
    let k3 = self::key("r-3", 1);
    let with = |id: &'static str| {
        move |txn: svc_kit::write::Txn| -> Change<(Answer, &'static str)> {
            let insert = add(id, 3)(txn);
            Box::pin(async move { Ok((insert.await?, id)) })
        }
    };
    let (answer, extra) = write_with(&test.db, &k3, with("c")).await.unwrap();
    assert_eq!((answer.seconds, extra), (3, Some("c")));
    let (answer, extra) = write_with(&test.db, &k3, with("c")).await.unwrap();
    assert_eq!((answer.seconds, extra), (3, None));
}

backend_test!(contention_runs_the_change_again, contention);
async fn contention(test: TestDb) {
    notes(&test).await;
    let attempts = AtomicU32::new(0);
    let key = key("c-1", 1);
    let answer = write(&test.db, &key, |txn| {
        let attempts = &attempts;
        Box::pin(async move {
            txn.execute_raw(stmt(
                txn.get_database_backend(),
                "INSERT INTO notes (id) VALUES ($1)",
                [format!("n{}", attempts.load(Ordering::SeqCst)).into()],
            ))
            .await?;
            // The first two runs lose a race: their writes are rolled back.
            if attempts.fetch_add(1, Ordering::SeqCst) < 2 {
                return Err(ApiError::Contention);
            }
            Ok(Answer {
                seconds: 1,
                nanos: 0,
            })
        })
    })
    .await
    .unwrap();
    assert_eq!(answer.seconds, 1);
    assert_eq!(attempts.load(Ordering::SeqCst), 3);
    assert_eq!(count(&test.db, "SELECT COUNT(*) FROM notes").await, 1);
}
