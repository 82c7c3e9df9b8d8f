//! The UC (XiVO CC "xuc") auth API: `/xuc/api/2.0/auth/*`.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use serde_json::{Value, json};

use super::AppState;
use super::error::{UcCode, UcError};
use super::extract::{Client, PresentedToken};
use crate::token::VerifiedToken;
use sesame_backends::Password;

fn credentials_answer(state: &AppState, token: &str, verified: &VerifiedToken) -> Json<Value> {
    Json(json!({
        "login": verified.record().login,
        "token": token,
        "TTL": state.tokens.ttl(verified),
    }))
}

fn parse_login(body: &[u8]) -> Result<(String, String), UcError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| UcError::new(UcCode::InvalidJson, format!("invalid JSON: {e}")))?;
    let field = |name: &str| -> Result<String, UcError> {
        match value.get(name) {
            Some(Value::String(s)) => Ok(s.clone()),
            Some(_) => Err(UcError::new(
                UcCode::InvalidJson,
                format!("{name} must be a string"),
            )),
            None => Err(UcError::new(
                UcCode::InvalidJson,
                format!("{name} is required"),
            )),
        }
    };
    Ok((field("login")?, field("password")?))
}

pub async fn login(
    State(state): State<AppState>,
    Client(client): Client,
    body: Bytes,
) -> Result<Json<Value>, UcError> {
    let (login, password) = parse_login(&body)?;
    let identity = state
        .auth
        .uc_login(&login, &Password::new(password))
        .await?;
    let issued = state
        .tokens
        .issue(identity, state.uc_token_lifetime, client)
        .await?;
    let verified = VerifiedToken {
        token: issued.live,
        kind: crate::token::TokenKind::Session,
    };
    Ok(credentials_answer(&state, &issued.token, &verified))
}

fn required(token: PresentedToken) -> Result<String, UcError> {
    token.0.ok_or_else(|| {
        UcError::new(
            UcCode::InvalidToken,
            "no token: send X-Auth-Token, Authorization: Bearer, or ?token=",
        )
    })
}

pub async fn check(
    State(state): State<AppState>,
    token: PresentedToken,
) -> Result<Json<Value>, UcError> {
    let token = required(token)?;
    let verified = state.tokens.renew(&token).await?;
    Ok(credentials_answer(&state, &token, &verified))
}

pub async fn logout(
    State(state): State<AppState>,
    token: PresentedToken,
) -> Result<Json<Value>, UcError> {
    let token = required(token)?;
    // Only a valid token may log itself out.
    state.tokens.verify(&token).await?;
    state.tokens.revoke(&token).await?;
    Ok(Json(json!({"message": "success"})))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn login_body_validation() {
        assert_eq!(
            parse_login(br#"{"login":"a","password":"b"}"#).unwrap(),
            ("a".into(), "b".into())
        );
        for bad in [
            &b""[..],
            b"{",
            br#"{"login":"a"}"#,
            br#"{"login":1,"password":"b"}"#,
        ] {
            assert_eq!(parse_login(bad).unwrap_err().code, UcCode::InvalidJson);
        }
    }
}
