//! One golden case: a download spec read through some grants, planned by
//! the engine, rendered, executed, and checked against its reviewed
//! snapshot.

use std::collections::{BTreeMap, BTreeSet};

use arrow::compute::concat_batches;
use arrow::record_batch::RecordBatch;
use laker_catalog::GrantPolicy;
use laker_query::{DownloadPlan, DownloadSpec, PrincipalContext, ReadAccess};
use serde_json::Value;

use super::engine::TestEngine;
use super::inspect::{data_files, render, scan_columns};
use super::lake::{DATASET, Lake};
use super::snapshot;

/// The principal every case reads as.
const USER: &str = "analyst";
/// Its `region` attribute (`principal_attribute('region')`).
const USER_REGION: &str = "EU";

/// A spec and the policies of the grants it is read through.
pub struct Case {
    name: &'static str,
    spec: Value,
    /// None: an unrestricted grant.
    policies: Vec<GrantPolicy>,
}

impl Case {
    /// Case `name` (its snapshot's name): the spec's fields besides
    /// `dataset` (a JSON object), read by an unrestricted grant.
    pub fn new(name: &'static str, fields: Value) -> Self {
        let mut spec = serde_json::Map::new();
        spec.insert("dataset".into(), DATASET.into());
        match fields {
            Value::Object(fields) => spec.extend(fields),
            other => panic!("{name}: the spec's fields must be an object, not {other}"),
        }
        Self {
            name,
            spec: Value::Object(spec),
            policies: Vec::new(),
        }
    }

    /// Reads through (also) a grant with this policy (its JSON form:
    /// `row_filter`, `column_masks`).
    pub fn policy(mut self, policy: Value) -> Self {
        let policy: GrantPolicy = serde_json::from_value(policy)
            .unwrap_or_else(|e| panic!("{}: invalid grant policy: {e}", self.name));
        self.policies.push(policy);
        self
    }

    /// Plans the case over a fresh lake, renders and executes the plan.
    pub async fn run(self) -> Outcome {
        let lake = Lake::create();
        let engine = TestEngine::start();
        let spec = DownloadSpec::from_json(self.spec.to_string().as_bytes())
            .unwrap_or_else(|e| panic!("{}: invalid spec: {e}", self.name));
        let principal = PrincipalContext {
            user: USER.into(),
            attributes: BTreeMap::from([("region".to_string(), USER_REGION.to_string())]),
        };
        let access = if self.policies.is_empty() {
            ReadAccess::unrestricted(principal)
        } else {
            ReadAccess {
                policies: self.policies.clone(),
                principal,
            }
        };
        let plan = engine
            .engine
            .plan(&lake.dataset, &spec, &access)
            .await
            .unwrap_or_else(|e| panic!("{}: planning failed: {e}", self.name));
        let text = lake.normalize(&render(&plan));
        let files = data_files(plan.physical_plan())
            .iter()
            .map(|f| lake.normalize(f))
            .collect();
        let columns = scan_columns(plan.physical_plan());
        let batches = engine.collect(&plan).await;
        let schema = batches
            .first()
            .map_or_else(|| plan.schema(), RecordBatch::schema);
        let rows = concat_batches(&schema, &batches).unwrap();
        let header = self.header();
        Outcome {
            name: self.name,
            header,
            plan,
            text,
            files,
            scan_columns: columns,
            rows,
            _lake: lake,
        }
    }

    /// What the snapshot was planned from, as `#` lines.
    fn header(&self) -> String {
        let policies = if self.policies.is_empty() {
            "unrestricted".to_string()
        } else {
            serde_json::to_string(&self.policies).unwrap()
        };
        format!(
            "# case: {}\n# spec: {}\n# policies: {policies}\n# principal: {USER} (region={USER_REGION})\n\n",
            self.name, self.spec
        )
    }
}

/// A planned and executed case.
pub struct Outcome {
    name: &'static str,
    header: String,
    /// The compiled download.
    pub plan: DownloadPlan,
    /// The rendered physical plan, the lake's path replaced.
    pub text: String,
    /// The data files the scans read (the lake's path replaced).
    pub files: BTreeSet<String>,
    /// The columns the scans produce.
    pub scan_columns: BTreeSet<String>,
    /// Every row returned, in the order returned.
    pub rows: RecordBatch,
    _lake: Lake,
}

impl Outcome {
    /// The names of the download's columns, in order.
    pub fn columns(&self) -> Vec<String> {
        self.plan
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect()
    }

    /// The first line of the plan that `matches`; fails naming `what`.
    pub fn line(&self, what: &str, matches: impl Fn(&str) -> bool) -> &str {
        match self.text.lines().find(|&l| matches(l)) {
            Some(line) => line,
            None => panic!("{}: no {what} in the plan:\n{}", self.name, self.text),
        }
    }

    /// The index of the policy view's top (`PolicyBarrierExec`) among the
    /// plan's lines; fails when there is none.
    fn barrier(&self) -> usize {
        match self
            .text
            .lines()
            .position(|l| l.contains("PolicyBarrierExec"))
        {
            Some(i) => i,
            None => panic!("{}: no policy view in the plan:\n{}", self.name, self.text),
        }
    }

    /// Whether a line above the policy view's top `matches` (applied to
    /// the view's rows, outside it).
    pub fn above_barrier(&self, matches: impl Fn(&str) -> bool) -> bool {
        let barrier = self.barrier();
        self.text.lines().take(barrier).any(matches)
    }

    /// Whether a line below the policy view's top `matches` (inside it).
    pub fn below_barrier(&self, matches: impl Fn(&str) -> bool) -> bool {
        let barrier = self.barrier();
        self.text.lines().skip(barrier + 1).any(matches)
    }

    /// Compares the plan with its reviewed snapshot (see [`snapshot`]).
    /// Call it last, so the facts checked before it fail first.
    pub fn check_snapshot(&self) {
        snapshot::check(self.name, &format!("{}{}", self.header, self.text));
    }
}
