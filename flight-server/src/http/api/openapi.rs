//! The OpenAPI 3.1 document, built from the endpoint table the router is
//! built from (`routes.rs`) — so it lists exactly what is served.

use super::endpoint::Endpoint;

/// The document describing `endpoints`.
pub fn build(endpoints: &[Endpoint]) -> serde_json::Value {
    let problem = serde_json::json!({
        "description": "A problem document (RFC 9457)",
        "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
    });
    let mut paths = serde_json::Map::new();
    for endpoint in endpoints {
        let mut item = serde_json::Map::new();
        let path_params: Vec<&str> = endpoint
            .path
            .split('/')
            .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .collect();
        for o in &endpoint.operations {
            let mut parameters: Vec<serde_json::Value> = path_params
                .iter()
                .map(|p| {
                    serde_json::json!({
                        "name": p, "in": "path", "required": true, "schema": {"type": "string"},
                    })
                })
                .collect();
            parameters.extend(o.query.iter().map(|q| {
                serde_json::json!({
                    "name": q, "in": "query", "required": false, "schema": {"type": "string"},
                })
            }));
            let ok = if o.ok == 204 {
                serde_json::json!({"description": "Done"})
            } else {
                serde_json::json!({"description": "Success", "content": {o.media: {}}})
            };
            let mut operation = serde_json::json!({
                "summary": o.summary,
                "operationId": operation_id(o.method, endpoint.path),
                "parameters": parameters,
                "responses": {o.ok.to_string(): ok, "default": problem.clone()},
            });
            if let Some(body) = o.body {
                operation["requestBody"] = serde_json::json!({
                    "required": true,
                    "description": body,
                    "content": {"application/json": {"schema": {"type": "object"}}},
                });
            }
            if endpoint.path == "/api/v1/login" || endpoint.path == "/api/v1/openapi.json" {
                operation["security"] = serde_json::json!([]);
            }
            item.insert(o.method.to_string(), operation);
        }
        paths.insert(endpoint.path.to_string(), item.into());
    }
    serde_json::json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Laker HTTP API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Discover, preview and download lake datasets; access requests; administration. \
                            The same tokens, grants and audit as Laker's Arrow Flight service.",
        },
        "paths": paths,
        "security": [{"bearer": []}, {"session": []}],
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                "session": {"type": "apiKey", "in": "cookie", "name": "laker_session"},
            },
            "schemas": {
                "Problem": {
                    "type": "object",
                    "required": ["status", "code", "detail"],
                    "properties": {
                        "type": {"type": "string"},
                        "title": {"type": "string"},
                        "status": {"type": "integer"},
                        "code": {"type": "string"},
                        "detail": {"type": "string"},
                    },
                },
            },
        },
    })
}

/// `get_api_v1_datasets_name_preview` for `GET /api/v1/datasets/{name}/preview`.
fn operation_id(method: &str, path: &str) -> String {
    let words: Vec<String> = path
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect();
    format!("{method}_{}", words.join("_"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::api::routes::endpoints;

    #[test]
    fn every_endpoint_is_documented_once() {
        let doc = build(&endpoints());
        let paths = doc["paths"].as_object().unwrap();
        assert_eq!(paths.len(), endpoints().len());
        let preview = &paths["/api/v1/datasets/{name}/preview"]["get"];
        assert_eq!(preview["parameters"][0]["name"], "name");
        assert_eq!(preview["parameters"][0]["in"], "path");
        assert!(
            preview["parameters"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["name"] == "filter")
        );
        let mut ids: Vec<_> = paths
            .values()
            .flat_map(|item| item.as_object().unwrap().values())
            .map(|o| o["operationId"].as_str().unwrap().to_string())
            .collect();
        let n = ids.len();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), n, "operation ids are unique");
        assert_eq!(
            paths["/api/v1/access-requests"]["post"]["responses"]["201"]["description"],
            "Success"
        );
    }
}
