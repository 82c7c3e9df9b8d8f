//! The id of the request being served, for the audit events and login log
//! lines it causes. The HTTP layer sets it around each request as a
//! task-local: a pointer swap per poll, where a tracing span per request
//! cost a quarter of the ceiling's throughput (see docs/performance.md).

tokio::task_local! {
    static CURRENT: String;
}

/// Run `work` with `id` as the current request id.
pub async fn scope<F: std::future::Future>(id: String, work: F) -> F::Output {
    CURRENT.scope(id, work).await
}

/// The current request id; empty outside a request (purges, the CLI, tasks
/// spawned apart).
pub fn current() -> String {
    CURRENT.try_with(Clone::clone).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn the_id_is_there_inside_its_scope_only() {
        assert_eq!(super::current(), "");
        let inside = super::scope("r-1".into(), async { super::current() }).await;
        assert_eq!(inside, "r-1");
        assert_eq!(super::current(), "");
    }
}
