//! wazo-auth's protected token routes: the refresh tokens of a user, or of
//! everyone, listed and revoked. Each needs a token granting its ACL
//! (`X-Auth-Token` or `?token=`); a parameter inside an ACL has its dots
//! written `_`, as wazo-auth does.

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use serde_json::json;

use super::AppState;
use super::error::WazoError;
use super::extract::{PresentedToken, query_param};
use super::wire::{RefreshTokenItem, RefreshTokenList};
use crate::store::refresh::RefreshRecord;
use crate::token::VerifiedToken;

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

/// `limit`, `offset`, `order`, `direction`, `search` of a list request.
#[derive(Debug, Default, PartialEq)]
pub struct Paging {
    pub limit: Option<usize>,
    pub offset: usize,
    pub order: Order,
    pub descending: bool,
    pub search: Option<String>,
}

#[derive(Debug, Default, PartialEq, Clone, Copy)]
pub enum Order {
    #[default]
    CreatedAt,
    ClientId,
    Mobile,
}

/// Read the paging parameters; a bad one is a 400 that names it.
pub fn paging(query: Option<&str>) -> Result<Paging, WazoError> {
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
    let order = match query_param(query, "order").as_deref() {
        None | Some("created_at") => Order::CreatedAt,
        Some("client_id") => Order::ClientId,
        Some("mobile") => Order::Mobile,
        Some(_) => {
            return Err(bad(
                "order",
                "Must be one of: created_at, client_id, mobile.",
            ));
        }
    };
    let descending = match query_param(query, "direction").as_deref() {
        None | Some("asc") => false,
        Some("desc") => true,
        Some(_) => return Err(bad("direction", "Must be one of: asc, desc.")),
    };
    Ok(Paging {
        limit: number("limit")?,
        offset: number("offset")?.unwrap_or(0),
        order,
        descending,
        search: query_param(query, "search").filter(|s| !s.is_empty()),
    })
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
        Order::CreatedAt => a.created_at.cmp(&b.created_at),
        Order::ClientId => a.client_id.cmp(&b.client_id),
        Order::Mobile => a.mobile.cmp(&b.mobile),
    });
    if paging.descending {
        records.reverse();
    }
    let items = records
        .into_iter()
        .skip(paging.offset)
        .take(paging.limit.unwrap_or(usize::MAX))
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
    token: PresentedToken,
    RawQuery(query): RawQuery,
) -> Result<Json<RefreshTokenList>, WazoError> {
    let acl = "auth.tokens.read";
    authorized(&state, token, acl).await?;
    let paging = paging(query.as_deref())?;
    let records = state.tokens.refresh_tokens(None).await;
    Ok(Json(page(
        records.map_err(|e| WazoError::of(e, acl))?,
        &paging,
    )))
}

/// `GET /0.1/users/{user}/tokens`: a user's refresh tokens (ACL
/// `auth.users.{user}.tokens.read`; `me`: the token's user, ACL
/// `auth.users.me.tokens.read`).
#[utoipa::path(get, path = "/0.1/users/{user}/tokens", tag = "token",
    security(("token" = []), ("token_query" = [])),
    params(
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
    token: PresentedToken,
    Path(user): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Json<RefreshTokenList>, WazoError> {
    let acl = format!("auth.users.{}.tokens.read", acl_part(&user));
    let verified = authorized(&state, token, &acl).await?;
    let user = if user == "me" { me(&verified) } else { user };
    let paging = paging(query.as_deref())?;
    let records = state.tokens.refresh_tokens(Some(&user)).await;
    Ok(Json(page(
        records.map_err(|e| WazoError::of(e, &acl))?,
        &paging,
    )))
}

/// `DELETE /0.1/users/{user}/tokens/{client_id}`: revoke a user's refresh
/// token for a client (ACL `auth.users.{user}.tokens.{client_id}.delete`).
#[utoipa::path(delete, path = "/0.1/users/{user}/tokens/{client_id}", tag = "token",
    security(("token" = []), ("token_query" = [])),
    params(
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
    let revoked = state.tokens.revoke_refresh(&user, &client_id).await;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paging_parameters() {
        assert_eq!(paging(None).unwrap(), Paging::default());
        let p = paging(Some(
            "limit=2&offset=1&order=client_id&direction=desc&search=App",
        ))
        .unwrap();
        assert_eq!(
            (
                p.limit,
                p.offset,
                p.order,
                p.descending,
                p.search.as_deref()
            ),
            (Some(2), 1, Order::ClientId, true, Some("App"))
        );
        for bad in [
            "limit=-1",
            "limit=x",
            "offset=1.5",
            "order=uuid",
            "direction=up",
        ] {
            assert!(paging(Some(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn dots_in_parameters_are_written_underscores() {
        assert_eq!(acl_part("com.example.app"), "com_example_app");
    }
}
