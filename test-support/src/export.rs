//! Reading `GET /v1/export` page by page, as a client would: following `Postora-Next-Cursor` until it is absent.

use serde_json::{json, Value};

/// A whole export read page by page.
pub struct Export {
    /// Every line of every page, in order.
    pub lines: Vec<Value>,
    /// The bodies of every page, concatenated (to look for what must not be there).
    pub text: String,
    /// How many pages it took.
    pub pages: usize,
    /// The headers of the first page.
    pub first_headers: reqwest::header::HeaderMap,
}

impl Export {
    /// The export in the shape of one object: the workspace record's fields, and `accounts`, `posts` and `audit`
    /// arrays of the other records (without their `type`).
    pub fn assembled(&self) -> Value {
        let mut out = json!({"accounts": [], "posts": [], "audit": []});
        for line in &self.lines {
            let mut record = line.clone();
            let kind = record["type"].as_str().unwrap_or_default().to_owned();
            record.as_object_mut().unwrap().remove("type");
            match kind.as_str() {
                "workspace" => {
                    for (k, v) in record.as_object().unwrap() {
                        out[k] = v.clone();
                    }
                }
                "account" => out["accounts"].as_array_mut().unwrap().push(record),
                "post" => out["posts"].as_array_mut().unwrap().push(record),
                "audit" => out["audit"].as_array_mut().unwrap().push(record),
                other => panic!("an export line of unknown type {other:?}: {line}"),
            }
        }
        out
    }
}

/// Reads the whole export at `base_url` with `key`, `limit` records a page (the server's default when `None`).
/// Every page must be a 200 of `application/x-ndjson` whose lines are JSON objects with a `type`.
pub async fn read_export(
    http: &reqwest::Client,
    base_url: &str,
    key: &str,
    limit: Option<usize>,
) -> Export {
    let mut export = Export {
        lines: Vec::new(),
        text: String::new(),
        pages: 0,
        first_headers: reqwest::header::HeaderMap::new(),
    };
    let mut cursor: Option<String> = None;
    loop {
        let mut query: Vec<(&str, String)> = Vec::new();
        if let Some(l) = limit {
            query.push(("limit", l.to_string()));
        }
        if let Some(c) = &cursor {
            query.push(("cursor", c.clone()));
        }
        let resp = http
            .get(format!("{}/v1/export", base_url.trim_end_matches('/')))
            .query(&query)
            .bearer_auth(key)
            .send()
            .await
            .unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap();
        assert_eq!(status, 200, "export page {}: {text}", export.pages + 1);
        assert_eq!(
            headers["content-type"].to_str().unwrap(),
            "application/x-ndjson"
        );
        if export.pages == 0 {
            export.first_headers = headers.clone();
        }
        export.pages += 1;
        assert!(export.pages < 10_000, "the export never ends");
        for line in text.lines() {
            let v: Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("an export line is not JSON ({e}): {line}"));
            assert!(v["type"].is_string(), "an export line has no type: {line}");
            export.lines.push(v);
        }
        assert!(text.is_empty() || text.ends_with('\n'), "every line ends");
        export.text.push_str(&text);
        cursor = headers
            .get("postora-next-cursor")
            .map(|v| v.to_str().unwrap().to_owned());
        match &cursor {
            Some(c) => {
                let link = headers["link"].to_str().unwrap();
                assert!(
                    link.contains(&format!("cursor={c}")) && link.ends_with("rel=\"next\""),
                    "{link}"
                );
            }
            None => {
                assert!(headers.get("link").is_none());
                break;
            }
        }
    }
    export
}
