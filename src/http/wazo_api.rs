//! wazo-auth's protected routes: the refresh tokens and the sessions of a
//! user, or of everyone, listed and revoked, and the tenants. Each needs a
//! token granting its ACL (`X-Auth-Token` or `?token=`); a parameter inside
//! an ACL has its dots written `_`, as wazo-auth does. Each acts in a
//! tenant: `Wazo-Tenant` if the token may act there, else the token's own;
//! it sees that tenant (and the tenants below it with `recurse=true` on
//! lists; always, on deletes), as wazo-auth does.

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use serde_json::json;

use super::AppState;
use super::error::WazoError;
use super::extract::{PresentedToken, query_param};
use super::wire::{
    RefreshTokenItem, RefreshTokenList, SessionItem, SessionList, TenantAddress, TenantItem,
    TenantList,
};
use crate::store::refresh::RefreshRecord;
use crate::token::VerifiedToken;
use crate::token::session::Session;

/// A parameter as it stands inside an ACL.
fn acl_part(value: &str) -> String {
    value.replace('.', "_")
}

/// The token of the request, if it grants `acl`.
async fn authorized(
    state: &AppState,
    token: PresentedToken,
    acl: &str,
) -> Result<VerifiedToken, WazoError> {
    let token = token.0.ok_or_else(|| WazoError::unauthorized(acl))?;
    state
        .tokens
        .check(&token, Some(acl))
        .await
        .map_err(|e| WazoError::of(e, acl))
}

/// The tenants a request sees: its scoping tenant (`Wazo-Tenant`, or the
/// token's), and those below it when `recurse`.
fn visible(
    state: &AppState,
    verified: &VerifiedToken,
    headers: &HeaderMap,
    recurse: bool,
) -> Result<Vec<String>, WazoError> {
    let scope = scoping_tenant(state, verified, headers)?;
    let tenants = &state.tokens.policy().tenants;
    Ok(tenants
        .visible(scope, recurse)
        .iter()
        .map(|t| t.uuid.to_string())
        .collect())
}

/// `Wazo-Tenant` if the token may act there (401 `unauthorized-tenant`
/// otherwise, as wazo-auth answers), else the token's own tenant.
fn scoping_tenant(
    state: &AppState,
    verified: &VerifiedToken,
    headers: &HeaderMap,
) -> Result<uuid::Uuid, WazoError> {
    let tokens = &state.tokens;
    let own = tokens
        .tenant_of(verified)
        .ok_or_else(|| WazoError::unauthorized_tenant("(the token's)"))?;
    let Some(header) = headers.get("wazo-tenant") else {
        return Ok(own);
    };
    let named = header.to_str().unwrap_or_default().trim();
    match uuid::Uuid::try_parse(named) {
        Ok(tenant) if tokens.in_tenant(verified, named) => Ok(tenant),
        _ => Err(WazoError::unauthorized_tenant(named)),
    }
}

/// The user `me` stands for: the token's user.
fn me(verified: &VerifiedToken) -> String {
    let record = verified.record();
    record
        .metadata
        .get("uuid")
        .and_then(serde_json::Value::as_str)
        .map(str::to_owned)
        .or_else(|| record.user_uuid.clone())
        .unwrap_or_else(|| record.auth_id.clone())
}

/// `limit`, `offset`, `order`, `direction`, `search`, `recurse` of a list
/// request.
#[derive(Debug, Default, PartialEq)]
pub struct Paging {
    pub limit: Option<usize>,
    pub offset: usize,
    /// One of the columns the list may be ordered by; `None`: its own order.
    pub order: Option<&'static str>,
    pub descending: bool,
    pub search: Option<String>,
    pub recurse: bool,
}

/// The columns refresh tokens may be ordered by (the first is the default).
const REFRESH_ORDERS: &[&str] = &["created_at", "client_id", "mobile"];
/// The columns sessions may be ordered by (oldest first otherwise).
const SESSION_ORDERS: &[&str] = &["mobile"];

/// Read the paging parameters of a list that may be ordered by `orders`;
/// a bad one is a 400 that names it.
pub fn paging(query: Option<&str>, orders: &[&'static str]) -> Result<Paging, WazoError> {
    let query = query.unwrap_or_default();
    let bad = |name: &str, why: &str| WazoError::invalid_list(json!({ name: [why] }));
    let number = |name: &str| -> Result<Option<usize>, WazoError> {
        query_param(query, name)
            .map(|v| {
                v.parse::<usize>()
                    .map_err(|_| bad(name, "Not a valid integer."))
            })
            .transpose()
    };
    let order = match query_param(query, "order") {
        None => None,
        Some(wanted) => match orders.iter().find(|o| **o == wanted) {
            Some(found) => Some(*found),
            None => {
                let one_of = format!("Must be one of: {}.", orders.join(", "));
                return Err(bad("order", &one_of));
            }
        },
    };
    let descending = match query_param(query, "direction").as_deref() {
        None | Some("asc") => false,
        Some("desc") => true,
        Some(_) => return Err(bad("direction", "Must be one of: asc, desc.")),
    };
    let recurse = match query_param(query, "recurse").as_deref() {
        None => false,
        Some(v) if ["true", "True", "1"].contains(&v) => true,
        Some(v) if ["false", "False", "0"].contains(&v) => false,
        Some(_) => return Err(bad("recurse", "Not a valid boolean.")),
    };
    Ok(Paging {
        limit: number("limit")?,
        offset: number("offset")?.unwrap_or(0),
        order,
        descending,
        search: query_param(query, "search").filter(|s| !s.is_empty()),
        recurse,
    })
}

/// The page `paging` asks for, of items already in order.
fn window<T>(items: Vec<T>, paging: &Paging) -> Vec<T> {
    items
        .into_iter()
        .skip(paging.offset)
        .take(paging.limit.unwrap_or(usize::MAX))
        .collect()
}

/// A page of `records`, as wazo-auth lists them.
fn page(mut records: Vec<RefreshRecord>, paging: &Paging) -> RefreshTokenList {
    let total = records.len();
    if let Some(search) = &paging.search {
        let search = search.to_lowercase();
        records.retain(|r| r.client_id.to_lowercase().contains(&search));
    }
    let filtered = records.len();
    records.sort_by(|a, b| match paging.order {
        Some("client_id") => a.client_id.cmp(&b.client_id),
        Some("mobile") => a.mobile.cmp(&b.mobile),
        _ => a.created_at.cmp(&b.created_at),
    });
    if paging.descending {
        records.reverse();
    }
    let items = window(records, paging)
        .into_iter()
        .map(|r| RefreshTokenItem {
            client_id: r.client_id,
            created_at: format!("{}+00:00", r.created_at.format_utc()),
            mobile: r.mobile,
            user_uuid: r.user_uuid,
            tenant_uuid: r.tenant_uuid,
            metadata: r.metadata,
        })
        .collect();
    RefreshTokenList {
        total,
        filtered,
        items,
    }
}

/// `GET /0.1/tokens`: every refresh token (ACL `auth.tokens.read`).
#[utoipa::path(get, path = "/0.1/tokens", tag = "token",
    security(("token" = []), ("token_query" = [])),
    params(
        ("Wazo-Tenant" = Option<String>, Header, description = "The tenant to act in (the token's, or one below it)"),
        ("limit" = Option<usize>, Query), ("offset" = Option<usize>, Query),
        ("order" = Option<String>, Query, description = "created_at (default), client_id or mobile"),
        ("direction" = Option<String>, Query, description = "asc (default) or desc"),
        ("search" = Option<String>, Query, description = "part of the client id"),
    ),
    responses(
        (status = 200, description = "A page of refresh tokens", body = super::wire::RefreshTokenList),
        (status = 400, description = "Bad paging parameters", body = super::wire::WazoErrorBody),
        (status = 401, description = "No token, or one without the ACL", body = super::wire::WazoErrorBody),
        (status = 503, description = "The token store is unavailable", body = super::wire::WazoErrorBody),
    ))]
pub async fn list_refresh_tokens(
    State(state): State<AppState>,
    headers: HeaderMap,
    token: PresentedToken,
    RawQuery(query): RawQuery,
) -> Result<Json<RefreshTokenList>, WazoError> {
    let acl = "auth.tokens.read";
    let verified = authorized(&state, token, acl).await?;
    let paging = paging(query.as_deref(), REFRESH_ORDERS)?;
    let seen = visible(&state, &verified, &headers, paging.recurse)?;
    let records = state.tokens.refresh_tokens(None).await;
    let mut records = records.map_err(|e| WazoError::of(e, acl))?;
    records.retain(|r| seen.contains(&r.tenant_uuid));
    Ok(Json(page(records, &paging)))
}

/// `GET /0.1/users/{user}/tokens`: a user's refresh tokens (ACL
/// `auth.users.{user}.tokens.read`; `me`: the token's user, ACL
/// `auth.users.me.tokens.read`).
#[utoipa::path(get, path = "/0.1/users/{user}/tokens", tag = "token",
    security(("token" = []), ("token_query" = [])),
    params(
        ("Wazo-Tenant" = Option<String>, Header, description = "The tenant to act in (the token's, or one below it)"),
        ("user" = String, Path, description = "A user's UUID, or `me`"),
        ("limit" = Option<usize>, Query), ("offset" = Option<usize>, Query),
        ("order" = Option<String>, Query), ("direction" = Option<String>, Query),
        ("search" = Option<String>, Query),
    ),
    responses(
        (status = 200, description = "A page of the user's refresh tokens", body = super::wire::RefreshTokenList),
        (status = 400, description = "Bad paging parameters", body = super::wire::WazoErrorBody),
        (status = 401, description = "No token, or one without the ACL", body = super::wire::WazoErrorBody),
        (status = 503, description = "The token store is unavailable", body = super::wire::WazoErrorBody),
    ))]
pub async fn list_user_refresh_tokens(
    State(state): State<AppState>,
    headers: HeaderMap,
    token: PresentedToken,
    Path(user): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Json<RefreshTokenList>, WazoError> {
    let acl = format!("auth.users.{}.tokens.read", acl_part(&user));
    let verified = authorized(&state, token, &acl).await?;
    let user = if user == "me" { me(&verified) } else { user };
    let paging = paging(query.as_deref(), REFRESH_ORDERS)?;
    let seen = visible(&state, &verified, &headers, true)?;
    let records = state.tokens.refresh_tokens(Some(&user)).await;
    let mut records = records.map_err(|e| WazoError::of(e, &acl))?;
    records.retain(|r| seen.contains(&r.tenant_uuid));
    Ok(Json(page(records, &paging)))
}

/// `DELETE /0.1/users/{user}/tokens/{client_id}`: revoke a user's refresh
/// token for a client (ACL `auth.users.{user}.tokens.{client_id}.delete`).
#[utoipa::path(delete, path = "/0.1/users/{user}/tokens/{client_id}", tag = "token",
    security(("token" = []), ("token_query" = [])),
    params(
        ("Wazo-Tenant" = Option<String>, Header, description = "The tenant to act in (the token's, or one below it)"),
        ("user" = String, Path, description = "A user's UUID, or `me`"),
        ("client_id" = String, Path),
    ),
    responses(
        (status = 204, description = "Revoked: it mints no more tokens"),
        (status = 401, description = "No token, or one without the ACL", body = super::wire::WazoErrorBody),
        (status = 404, description = "The user has no refresh token for this client", body = super::wire::WazoErrorBody),
        (status = 503, description = "The token store is unavailable", body = super::wire::WazoErrorBody),
    ))]
pub async fn revoke_refresh_token(
    State(state): State<AppState>,
    headers: HeaderMap,
    token: PresentedToken,
    Path((user, client_id)): Path<(String, String)>,
) -> Result<StatusCode, WazoError> {
    let acl = format!(
        "auth.users.{}.tokens.{}.delete",
        acl_part(&user),
        acl_part(&client_id)
    );
    let verified = authorized(&state, token, &acl).await?;
    let user = if user == "me" { me(&verified) } else { user };
    let seen = visible(&state, &verified, &headers, true)?;
    let held = state.tokens.refresh_tokens(Some(&user)).await;
    let in_sight = held
        .map_err(|e| WazoError::of(e, &acl))?
        .iter()
        .any(|r| r.client_id == client_id && seen.contains(&r.tenant_uuid));
    let revoked = match in_sight {
        true => state.tokens.revoke_refresh(&user, &client_id).await,
        false => Ok(false),
    };
    if revoked.map_err(|e| WazoError::of(e, &acl))? {
        return Ok(StatusCode::NO_CONTENT);
    }
    Err(WazoError::new(
        StatusCode::NOT_FOUND,
        format!("unknown refresh_token for client_id \"{client_id}\""),
        "cannot-find-refresh-token-matching-client-id",
        json!({ "client_id": client_id }),
    ))
}

/// A page of `sessions`, as wazo-auth lists them (no search: `filtered`
/// is `total`).
fn session_page(mut sessions: Vec<Session>, paging: &Paging) -> SessionList {
    let total = sessions.len();
    if paging.order == Some("mobile") {
        sessions.sort_by_key(|s| s.mobile);
    }
    if paging.descending {
        sessions.reverse();
    }
    let items = window(sessions, paging)
        .into_iter()
        .map(|s| SessionItem {
            uuid: s.uuid.to_string(),
            user_uuid: s.user_uuid,
            tenant_uuid: s.tenant_uuid,
            mobile: s.mobile,
        })
        .collect();
    SessionList {
        total,
        filtered: total,
        items,
    }
}

/// The user a path names: `me` is the token's user (`auth_id`, which is
/// what sessions are listed by); anything else must be a UUID.
fn session_user(user: &str, verified: &VerifiedToken) -> Result<String, WazoError> {
    if user == "me" {
        return Ok(verified.record().auth_id.clone());
    }
    uuid::Uuid::try_parse(user)
        .map(|_| user.to_owned())
        .map_err(|_| no_such_user(user))
}

fn no_such_user(user: &str) -> WazoError {
    WazoError::new(
        StatusCode::NOT_FOUND,
        format!("No such user: \"{user}\""),
        "unknown-user",
        json!({ "uuid": user }),
    )
}

/// `GET /0.1/sessions`: every live session (ACL `auth.sessions.read`).
#[utoipa::path(get, path = "/0.1/sessions", tag = "token",
    security(("token" = []), ("token_query" = [])),
    params(
        ("Wazo-Tenant" = Option<String>, Header, description = "The tenant to act in (the token's, or one below it)"),
        ("limit" = Option<usize>, Query), ("offset" = Option<usize>, Query),
        ("order" = Option<String>, Query, description = "mobile (oldest first otherwise)"),
        ("direction" = Option<String>, Query, description = "asc (default) or desc"),
        ("recurse" = Option<bool>, Query, description = "accepted; sessions of sub-tenants are listed"),
    ),
    responses(
        (status = 200, description = "A page of sessions", body = super::wire::SessionList),
        (status = 400, description = "Bad paging parameters", body = super::wire::WazoErrorBody),
        (status = 401, description = "No token, or one without the ACL", body = super::wire::WazoErrorBody),
        (status = 503, description = "The token store is unavailable", body = super::wire::WazoErrorBody),
    ))]
pub async fn list_sessions(
    State(state): State<AppState>,
    headers: HeaderMap,
    token: PresentedToken,
    RawQuery(query): RawQuery,
) -> Result<Json<SessionList>, WazoError> {
    let acl = "auth.sessions.read";
    let verified = authorized(&state, token, acl).await?;
    let paging = paging(query.as_deref(), SESSION_ORDERS)?;
    let seen = visible(&state, &verified, &headers, paging.recurse)?;
    let sessions = state.tokens.sessions(None).await;
    let mut sessions = sessions.map_err(|e| WazoError::of(e, acl))?;
    sessions.retain(|s| seen.contains(&s.tenant_uuid));
    Ok(Json(session_page(sessions, &paging)))
}

/// `DELETE /0.1/sessions/{session}`: end a session, revoking its tokens
/// (ACL `auth.sessions.{session}.delete`).
#[utoipa::path(delete, path = "/0.1/sessions/{session}", tag = "token",
    security(("token" = []), ("token_query" = [])),
    params(
        ("Wazo-Tenant" = Option<String>, Header, description = "The tenant to act in (the token's, or one below it)"),
        ("session" = String, Path, description = "The session's UUID")),
    responses(
        (status = 204, description = "There is no such session any more (also when there was none)"),
        (status = 401, description = "No token, or one without the ACL", body = super::wire::WazoErrorBody),
        (status = 503, description = "The token store is unavailable", body = super::wire::WazoErrorBody),
    ))]
pub async fn delete_session(
    State(state): State<AppState>,
    headers: HeaderMap,
    token: PresentedToken,
    Path(session): Path<String>,
) -> Result<StatusCode, WazoError> {
    let acl = format!("auth.sessions.{}.delete", acl_part(&session));
    let verified = authorized(&state, token, &acl).await?;
    let seen = visible(&state, &verified, &headers, true)?;
    end_session(&state, &session, None, &seen, &acl).await
}

/// End `session` (of `user` only, when given) if it is in a tenant of
/// `seen`; 204 whether or not it was there, as wazo-auth answers.
async fn end_session(
    state: &AppState,
    session: &str,
    user: Option<&str>,
    seen: &[String],
    acl: &str,
) -> Result<StatusCode, WazoError> {
    let Ok(uuid) = uuid::Uuid::try_parse(session) else {
        return Ok(StatusCode::NO_CONTENT);
    };
    let sessions = state.tokens.sessions(user).await;
    let found = sessions
        .map_err(|e| WazoError::of(e, acl))?
        .into_iter()
        .find(|s| s.uuid == uuid && seen.contains(&s.tenant_uuid));
    if let Some(found) = found {
        let ended = state.tokens.end(&found, "session ended").await;
        ended.map_err(|e| WazoError::of(e, acl))?;
    }
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /0.1/users/{user}/sessions`: a user's live sessions (ACL
/// `auth.users.{user}.sessions.read`; `me`: the token's user).
#[utoipa::path(get, path = "/0.1/users/{user}/sessions", tag = "token",
    security(("token" = []), ("token_query" = [])),
    params(
        ("Wazo-Tenant" = Option<String>, Header, description = "The tenant to act in (the token's, or one below it)"),
        ("user" = String, Path, description = "A user's UUID, or `me`"),
        ("limit" = Option<usize>, Query), ("offset" = Option<usize>, Query),
        ("order" = Option<String>, Query), ("direction" = Option<String>, Query),
    ),
    responses(
        (status = 200, description = "A page of the user's sessions", body = super::wire::SessionList),
        (status = 400, description = "Bad paging parameters", body = super::wire::WazoErrorBody),
        (status = 401, description = "No token, or one without the ACL", body = super::wire::WazoErrorBody),
        (status = 404, description = "The user is not a UUID", body = super::wire::WazoErrorBody),
        (status = 503, description = "The token store is unavailable", body = super::wire::WazoErrorBody),
    ))]
pub async fn list_user_sessions(
    State(state): State<AppState>,
    headers: HeaderMap,
    token: PresentedToken,
    Path(user): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Json<SessionList>, WazoError> {
    let acl = format!("auth.users.{}.sessions.read", acl_part(&user));
    let verified = authorized(&state, token, &acl).await?;
    let user = session_user(&user, &verified)?;
    let paging = paging(query.as_deref(), SESSION_ORDERS)?;
    let seen = visible(&state, &verified, &headers, true)?;
    let sessions = state.tokens.sessions(Some(&user)).await;
    let mut sessions = sessions.map_err(|e| WazoError::of(e, &acl))?;
    sessions.retain(|s| seen.contains(&s.tenant_uuid));
    Ok(Json(session_page(sessions, &paging)))
}

/// `DELETE /0.1/users/{user}/sessions/{session}`: end one of a user's
/// sessions (ACL `auth.users.{user}.sessions.{session}.delete`). Another
/// user's session is left alone (wazo-auth ends it if it is in the
/// caller's tenants).
#[utoipa::path(delete, path = "/0.1/users/{user}/sessions/{session}", tag = "token",
    security(("token" = []), ("token_query" = [])),
    params(
        ("Wazo-Tenant" = Option<String>, Header, description = "The tenant to act in (the token's, or one below it)"),
        ("user" = String, Path, description = "A user's UUID, or `me`"),
        ("session" = String, Path, description = "The session's UUID"),
    ),
    responses(
        (status = 204, description = "The user has no such session any more (also when there was none)"),
        (status = 401, description = "No token, or one without the ACL", body = super::wire::WazoErrorBody),
        (status = 404, description = "The user is not a UUID", body = super::wire::WazoErrorBody),
        (status = 503, description = "The token store is unavailable", body = super::wire::WazoErrorBody),
    ))]
pub async fn delete_user_session(
    State(state): State<AppState>,
    headers: HeaderMap,
    token: PresentedToken,
    Path((user, session)): Path<(String, String)>,
) -> Result<StatusCode, WazoError> {
    let acl = format!(
        "auth.users.{}.sessions.{}.delete",
        acl_part(&user),
        acl_part(&session)
    );
    let verified = authorized(&state, token, &acl).await?;
    let user = session_user(&user, &verified)?;
    let seen = visible(&state, &verified, &headers, true)?;
    end_session(&state, &session, Some(&user), &seen, &acl).await
}

/// The columns tenants may be ordered by (the first is the default).
const TENANT_ORDERS: &[&str] = &["name", "slug"];

/// `GET /0.1/tenants`: the request's tenant and those below it (ACL
/// `auth.tenants.read`), read-only: they are declared in the configuration.
#[utoipa::path(get, path = "/0.1/tenants", tag = "token",
    security(("token" = []), ("token_query" = [])),
    params(
        ("Wazo-Tenant" = Option<String>, Header, description = "The tenant to list from (the token's, or one below it)"),
        ("limit" = Option<usize>, Query), ("offset" = Option<usize>, Query),
        ("order" = Option<String>, Query, description = "name (default) or slug"),
        ("direction" = Option<String>, Query, description = "asc (default) or desc"),
        ("search" = Option<String>, Query, description = "part of the uuid, name, slug or a domain name"),
    ),
    responses(
        (status = 200, description = "A page of tenants", body = super::wire::TenantList),
        (status = 400, description = "Bad paging parameters", body = super::wire::WazoErrorBody),
        (status = 401, description = "No token, one without the ACL, or a tenant it may not see", body = super::wire::WazoErrorBody),
        (status = 503, description = "The token store is unavailable", body = super::wire::WazoErrorBody),
    ))]
pub async fn list_tenants(
    State(state): State<AppState>,
    headers: HeaderMap,
    token: PresentedToken,
    RawQuery(query): RawQuery,
) -> Result<Json<TenantList>, WazoError> {
    let verified = authorized(&state, token, "auth.tenants.read").await?;
    let paging = paging(query.as_deref(), TENANT_ORDERS)?;
    let scope = scoping_tenant(&state, &verified, &headers)?;
    let mut tenants = state.tokens.policy().tenants.visible(scope, true);
    let total = tenants.len();
    if let Some(search) = &paging.search {
        let search = search.to_lowercase();
        tenants.retain(|t| {
            [
                t.uuid.to_string(),
                t.name.to_lowercase(),
                t.slug.to_lowercase(),
            ]
            .iter()
            .chain(&t.domain_names)
            .any(|field| field.contains(&search))
        });
    }
    let filtered = tenants.len();
    if paging.order == Some("slug") {
        tenants.sort_by(|a, b| a.slug.cmp(&b.slug));
    }
    if paging.descending {
        tenants.reverse();
    }
    let items = window(tenants, &paging)
        .into_iter()
        .map(|t| TenantItem {
            uuid: t.uuid.to_string(),
            name: t.name.clone(),
            slug: t.slug.clone(),
            parent_uuid: t.parent_uuid.to_string(),
            domain_names: t.domain_names.clone(),
            contact: None,
            phone: None,
            address: TenantAddress::default(),
            default_authentication_method: "native",
        })
        .collect();
    Ok(Json(TenantList {
        total,
        filtered,
        items,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paging_parameters() {
        assert_eq!(paging(None, REFRESH_ORDERS).unwrap(), Paging::default());
        let p = paging(
            Some("limit=2&offset=1&order=client_id&direction=desc&search=App"),
            REFRESH_ORDERS,
        )
        .unwrap();
        assert_eq!(
            (
                p.limit,
                p.offset,
                p.order,
                p.descending,
                p.search.as_deref()
            ),
            (Some(2), 1, Some("client_id"), true, Some("App"))
        );
        for bad in [
            "limit=-1",
            "limit=x",
            "offset=1.5",
            "order=uuid",
            "direction=up",
            "recurse=maybe",
        ] {
            assert!(paging(Some(bad), REFRESH_ORDERS).is_err(), "{bad}");
        }
        assert!(paging(Some("order=client_id"), SESSION_ORDERS).is_err());
        assert!(
            paging(Some("order=mobile&recurse=true"), SESSION_ORDERS)
                .unwrap()
                .recurse
        );
    }

    #[test]
    fn dots_in_parameters_are_written_underscores() {
        assert_eq!(acl_part("com.example.app"), "com_example_app");
    }
}
