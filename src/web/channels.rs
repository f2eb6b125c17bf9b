//! Profiles and their channels: the read-only listing, and the edits (add,
//! change colour / filter / sign / order, delete) that need the admin token.
//!
//! CSRF: edits carry the token in the `X-Wvnr-Token` header (a header a
//! cross-site form cannot set, and a cross-site `fetch` cannot send without a
//! CORS preflight this server never grants), and a request whose `Origin` (or
//! `Sec-Fetch-Site`) says it comes from another site is refused outright. No
//! cookies are involved.

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use serde::{Deserialize, Serialize};

use crate::filter::Filter;
use crate::profile::{check_colour, check_name, Channel, Profile, Profiles, Sign};

use super::error::{ApiError, ApiResult};
use super::overview::ChannelMeta;
use super::WebState;

pub const TOKEN_HEADER: &str = "x-wvnr-token";

#[derive(Serialize)]
pub struct ProfileView {
    pub name: String,
    pub channels: Vec<ChannelMeta>,
}

#[derive(Serialize)]
pub struct ProfilesView {
    /// Whether the server accepts channel edits (an admin token is configured).
    pub editable: bool,
    pub profiles: Vec<ProfileView>,
}

fn meta(c: &Channel) -> ChannelMeta {
    ChannelMeta {
        name: c.name.clone(),
        filter: c.filter.clone(),
        colour: c.colour.clone(),
        sign: if c.sign == Sign::Minus { -1 } else { 1 },
        order: i64::from(c.order),
    }
}

/// The channels of `profile`, or None when there is no such profile.
pub fn channel_metas(state: &WebState, profile: &str) -> Option<Vec<ChannelMeta>> {
    let profiles = state.profiles.read().unwrap_or_else(|e| e.into_inner());
    let p = profiles.profiles.iter().find(|p| p.name == profile)?;
    Some(p.channels.iter().map(meta).collect())
}

pub fn profile_names(state: &WebState) -> Vec<String> {
    let profiles = state.profiles.read().unwrap_or_else(|e| e.into_inner());
    profiles.profiles.iter().map(|p| p.name.clone()).collect()
}

pub async fn list(State(state): State<WebState>) -> Json<ProfilesView> {
    let profiles = state.profiles.read().unwrap_or_else(|e| e.into_inner());
    Json(ProfilesView {
        editable: state.admin_token.is_some(),
        profiles: profiles
            .profiles
            .iter()
            .map(|p| ProfileView { name: p.name.clone(), channels: p.channels.iter().map(meta).collect() })
            .collect(),
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewChannel {
    pub name: String,
    #[serde(default)]
    pub filter: Option<String>,
    pub colour: String,
    #[serde(default)]
    pub sign: Option<String>,
    #[serde(default)]
    pub order: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelChange {
    #[serde(default)]
    pub filter: Option<String>,
    #[serde(default)]
    pub colour: Option<String>,
    #[serde(default)]
    pub sign: Option<String>,
    #[serde(default)]
    pub order: Option<u32>,
}

pub async fn add(
    State(state): State<WebState>,
    Path(profile): Path<String>,
    headers: HeaderMap,
    body: Result<Json<NewChannel>, JsonRejection>,
) -> ApiResult<impl IntoResponse> {
    authorize(&state, &headers)?;
    let Json(new) = body.map_err(|e| ApiError::bad(e.body_text()))?;
    let channel = Channel {
        name: valid_name(&new.name)?,
        filter: valid_filter(new.filter.as_deref().unwrap_or("any"))?,
        colour: valid_colour(&new.colour)?,
        sign: parse_sign(new.sign.as_deref().unwrap_or("+"))?,
        order: 0,
    };
    let view = edit(&state, move |profiles| {
        let p = find_profile(profiles, &profile)?;
        if p.channel(&channel.name).is_some() {
            return Err(ApiError::Conflict(format!(
                "profile {profile:?} already has a channel {:?}",
                channel.name
            )));
        }
        let order = new.order.unwrap_or_else(|| p.channels.iter().map(|c| c.order + 1).max().unwrap_or(0));
        let at = p.add_channel(Channel { order, ..channel }).map_err(|e| ApiError::bad(format!("{e:#}")))?;
        Ok(meta(&p.channels[at]))
    })
    .await?;
    Ok((StatusCode::CREATED, Json(view)))
}

pub async fn change(
    State(state): State<WebState>,
    Path((profile, name)): Path<(String, String)>,
    headers: HeaderMap,
    body: Result<Json<ChannelChange>, JsonRejection>,
) -> ApiResult<Json<ChannelMeta>> {
    authorize(&state, &headers)?;
    let Json(ch) = body.map_err(|e| ApiError::bad(e.body_text()))?;
    let filter = ch.filter.as_deref().map(valid_filter).transpose()?;
    let colour = ch.colour.as_deref().map(valid_colour).transpose()?;
    let sign = ch.sign.as_deref().map(parse_sign).transpose()?;
    let view = edit(&state, move |profiles| {
        let c = find_channel(profiles, &profile, &name)?;
        if let Some(f) = filter {
            c.filter = f;
        }
        if let Some(col) = colour {
            c.colour = col;
        }
        if let Some(s) = sign {
            c.sign = s;
        }
        let reorder = ch.order.is_some_and(|o| o != c.order);
        if let Some(o) = ch.order {
            c.order = o;
        }
        let view = meta(c);
        if reorder {
            // Profiles keep channels sorted by order (stable: ties keep their places).
            find_profile(profiles, &profile)?.channels.sort_by_key(|c| c.order);
        }
        Ok(view)
    })
    .await?;
    Ok(Json(view))
}

pub async fn delete(
    State(state): State<WebState>,
    Path((profile, name)): Path<(String, String)>,
    headers: HeaderMap,
) -> ApiResult<StatusCode> {
    authorize(&state, &headers)?;
    edit(&state, move |profiles| {
        find_channel(profiles, &profile, &name)?;
        find_profile(profiles, &profile)?
            .remove_channel(&name)
            .map_err(|e| ApiError::NotFound(format!("{e:#}")))?;
        Ok(())
    })
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Applies `f` to a copy of the profiles, saves the copy, and only then makes it current, so a
/// failed save leaves both the file and the running collector as they were.
async fn edit<T: Send + 'static>(
    state: &WebState,
    f: impl FnOnce(&mut Profiles) -> ApiResult<T> + Send + 'static,
) -> ApiResult<T> {
    let state = state.clone();
    tokio::task::spawn_blocking(move || {
        let mut current = state.profiles.write().unwrap_or_else(|e| e.into_inner());
        let mut next = current.clone();
        let out = f(&mut next)?;
        next.save(&state.data_dir)?;
        *current = next;
        Ok(out)
    })
    .await
    .map_err(|e| ApiError::Internal(anyhow::anyhow!("profile edit task failed: {e}")))?
}

fn find_profile<'a>(profiles: &'a mut Profiles, name: &str) -> ApiResult<&'a mut Profile> {
    profiles
        .profiles
        .iter_mut()
        .find(|p| p.name == name)
        .ok_or_else(|| ApiError::NotFound(format!("no profile {name:?}")))
}

fn find_channel<'a>(profiles: &'a mut Profiles, profile: &str, name: &str) -> ApiResult<&'a mut Channel> {
    find_profile(profiles, profile)?
        .channels
        .iter_mut()
        .find(|c| c.name == name)
        .ok_or_else(|| ApiError::NotFound(format!("profile {profile:?} has no channel {name:?}")))
}

/// Refuses an edit unless the server has a token, the request carries it, and nothing says the
/// request comes from another site.
pub fn authorize(state: &WebState, headers: &HeaderMap) -> ApiResult<()> {
    let Some(expected) = state.admin_token.as_deref() else {
        return Err(ApiError::Forbidden("channel editing is disabled: the server has no admin token"));
    };
    if headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) == Some("cross-site") {
        return Err(ApiError::Forbidden("cross-site edits are refused"));
    }
    if let Some(origin) = headers.get("origin") {
        let host = headers.get("host").and_then(|h| h.to_str().ok()).unwrap_or("");
        let origin_host = origin
            .to_str()
            .ok()
            .and_then(|o| o.strip_prefix("http://").or_else(|| o.strip_prefix("https://")))
            .unwrap_or("\0");
        if host.is_empty() || origin_host != host {
            return Err(ApiError::Forbidden("cross-origin edits are refused"));
        }
    }
    let given = headers.get(TOKEN_HEADER).map(|v| v.as_bytes()).unwrap_or(b"");
    if !constant_time_eq(given, expected.as_bytes()) {
        return Err(ApiError::Unauthorized("missing or wrong X-Wvnr-Token header"));
    }
    Ok(())
}

/// Compares without an early exit, so the time taken does not tell how much of a guess was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = (a.len() != b.len()) as u8;
    for i in 0..a.len().max(b.len()) {
        diff |= a.get(i).copied().unwrap_or(0) ^ b.get(i).copied().unwrap_or(0);
    }
    diff == 0
}

fn valid_name(name: &str) -> ApiResult<String> {
    check_name("channel", name).map_err(|e| ApiError::bad(format!("{e:#}")))?;
    Ok(name.to_string())
}

fn valid_colour(colour: &str) -> ApiResult<String> {
    check_colour(colour).map_err(|e| ApiError::bad(format!("{e:#}")))?;
    Ok(colour.to_ascii_lowercase())
}

fn valid_filter(text: &str) -> ApiResult<String> {
    if text.len() > 4096 {
        return Err(ApiError::bad("filter is longer than 4096 characters"));
    }
    Filter::compile(text)?;
    Ok(text.to_string())
}

fn parse_sign(s: &str) -> ApiResult<Sign> {
    match s {
        "1" => Ok(Sign::Plus),
        "-1" => Ok(Sign::Minus),
        other => other.parse::<Sign>().map_err(ApiError::BadRequest),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_comparison() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret2"));
        assert!(!constant_time_eq(b"", b"x"));
    }

    #[test]
    fn validation() {
        assert!(valid_name("http-alt_2").is_ok());
        assert!(valid_name("a.b").is_err());
        assert!(valid_name("").is_err());
        assert!(valid_name("a b").is_err());
        assert!(valid_name("<script>").is_err());
        assert_eq!(valid_colour("#AbCdEf").unwrap(), "#abcdef");
        assert!(valid_colour("#abcd").is_err());
        assert!(valid_colour("red").is_err());
        assert!(valid_colour("#ééé").is_err());
        assert_eq!(parse_sign("-").unwrap(), Sign::Minus);
        assert!(parse_sign("*").is_err());
    }
}
