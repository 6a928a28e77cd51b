//! The deployment examples under deploy/ hold together the way an operator relies on: every
//! Kubernetes object parses, the probes hit entrance's health endpoints on its port, the pods
//! run locked down, Workload Identity is wired from ServiceAccount to config, the sidecar's app
//! is reachable only through entrance, and each ConfigMap's config loads as entrance loads it.
//! The Helm chart, the Dockerfile and the Traefik/Envoy examples are checked for the same facts
//! as far as text allows (no helm, traefik or envoy binary is needed).
#![allow(clippy::unwrap_used)]

mod support;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_yaml::Value;

use entrance::microsoft::ClientCredential;
use support::{random_session_secret, TempDir, IDENTITY_HEADERS};

/// Where the Workload Identity webhook projects the federated token (not in any manifest: the
/// webhook adds the volume to pods labelled `azure.workload.identity/use: "true"`).
const WORKLOAD_IDENTITY_TOKEN_DIR: &str = "/var/run/secrets/azure/tokens/";
/// A tenant GUID for AZURE_TENANT_ID, as the webhook would set it.
const TENANT: &str = "6e5f1d2c-3b4a-4c5d-8e7f-0a1b2c3d4e5f";

fn repo_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

fn read(relative: &str) -> String {
    let path = repo_path(relative);
    match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(error) => panic!("cannot read {}: {error}", path.display()),
    }
}

/// One YAML document of a manifest file.
struct Doc {
    file: String,
    value: Value,
}

impl Doc {
    fn kind(&self) -> &str {
        self.value["kind"].as_str().unwrap_or("")
    }
    fn name(&self) -> &str {
        self.value["metadata"]["name"].as_str().unwrap_or("")
    }
}

/// Every document of every .yaml file under deploy/kubernetes (empty documents skipped).
fn kubernetes_documents() -> Vec<Doc> {
    let dir = repo_path("deploy/kubernetes");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no manifests in {}", dir.display());
    let mut docs = Vec::new();
    for path in files {
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&path).unwrap();
        for document in serde_yaml::Deserializer::from_str(&text) {
            let value = match Value::deserialize(document) {
                Ok(value) => value,
                Err(error) => panic!("{file} is not valid YAML: {error}"),
            };
            if value.is_null() {
                continue;
            }
            let doc = Doc {
                file: file.clone(),
                value,
            };
            assert!(
                !doc.kind().is_empty() && !doc.name().is_empty(),
                "{}: a document without kind or metadata.name",
                doc.file
            );
            docs.push(doc);
            let doc = docs.last().unwrap();
            assert!(
                doc.value["apiVersion"].as_str().is_some(),
                "{}: {} {} has no apiVersion",
                doc.file,
                doc.kind(),
                doc.name()
            );
        }
    }
    docs
}

fn find<'a>(docs: &'a [Doc], kind: &str, name: &str) -> &'a Value {
    match docs.iter().find(|d| d.kind() == kind && d.name() == name) {
        Some(doc) => &doc.value,
        None => panic!("deploy/kubernetes has no {kind} named {name}"),
    }
}

fn seq(value: &Value) -> &[Value] {
    value.as_sequence().map(Vec::as_slice).unwrap_or(&[])
}

fn string(value: &Value) -> &str {
    value.as_str().unwrap_or("")
}

fn container<'a>(pod: &'a Value, name: &str) -> &'a Value {
    match seq(&pod["containers"])
        .iter()
        .find(|c| string(&c["name"]) == name)
    {
        Some(container) => container,
        None => panic!("the pod has no container named {name}: {pod:?}"),
    }
}

/// The containerPort of the port named `name`.
fn port(container: &Value, name: &str) -> u16 {
    let port = seq(&container["ports"])
        .iter()
        .find(|p| string(&p["name"]) == name)
        .and_then(|p| p["containerPort"].as_u64());
    match port {
        Some(port) => u16::try_from(port).unwrap(),
        None => panic!("no port named {name} on {:?}", container["name"]),
    }
}

/// Every label of `selector` (a matchLabels map) is on `labels`.
fn selects(selector: &Value, labels: &Value) -> bool {
    let Some(selector) = selector.as_mapping() else {
        return false;
    };
    !selector.is_empty() && selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

/// The locked-down container an operator expects; `what` names it in failures.
fn assert_locked_down(what: &str, context: &Value, pod_context: &Value) {
    assert_eq!(
        context["allowPrivilegeEscalation"],
        Value::Bool(false),
        "{what}"
    );
    assert_eq!(
        context["readOnlyRootFilesystem"],
        Value::Bool(true),
        "{what}"
    );
    assert_eq!(context["runAsNonRoot"], Value::Bool(true), "{what}");
    let dropped: Vec<&str> = seq(&context["capabilities"]["drop"])
        .iter()
        .map(string)
        .collect();
    assert!(
        dropped.contains(&"ALL"),
        "{what}: capabilities.drop lacks ALL"
    );
    let seccomp = if context["seccompProfile"].is_null() {
        &pod_context["seccompProfile"]["type"]
    } else {
        &context["seccompProfile"]["type"]
    };
    assert_eq!(string(seccomp), "RuntimeDefault", "{what}: seccomp profile");
}

/// What a Deployment says about its entrance container, checked on the way.
struct EntrancePod<'a> {
    pod: &'a Value,
    http: u16,
    admin: u16,
    /// The config text of the ConfigMap mounted at /etc/entrance.
    config: String,
    /// mountPaths of the entrance container.
    mounts: Vec<String>,
}

/// Checks what every entrance Deployment must have and returns its facts.
fn check_entrance_deployment<'a>(docs: &'a [Doc], name: &str) -> EntrancePod<'a> {
    let deployment = find(docs, "Deployment", name);
    let template = &deployment["spec"]["template"];
    assert!(
        selects(
            &deployment["spec"]["selector"]["matchLabels"],
            &template["metadata"]["labels"]
        ),
        "Deployment {name}: its selector does not select its own pods"
    );
    let pod = &template["spec"];
    let entrance = container(pod, "entrance");
    let http = port(entrance, "http");
    let admin = port(entrance, "admin");

    for (probe, path) in [("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")] {
        let get = &entrance[probe]["httpGet"];
        assert_eq!(string(&get["path"]), path, "Deployment {name}: {probe}");
        let target = match &get["port"] {
            Value::String(named) => port(entrance, named),
            other => u16::try_from(other.as_u64().unwrap_or(0)).unwrap(),
        };
        assert_eq!(
            target, http,
            "Deployment {name}: {probe} must hit entrance's port"
        );
    }

    for container in seq(&pod["containers"]) {
        let what = format!(
            "Deployment {name}, container {}",
            string(&container["name"])
        );
        for key in ["requests", "limits"] {
            let set = &container["resources"][key];
            assert!(
                !set["cpu"].is_null() && !set["memory"].is_null(),
                "{what}: resources.{key} needs cpu and memory (the HPA and the scheduler use them)"
            );
        }
        assert_locked_down(
            &what,
            &container["securityContext"],
            &pod["securityContext"],
        );
    }
    let pod_context = &pod["securityContext"];
    assert_eq!(
        pod_context["runAsNonRoot"],
        Value::Bool(true),
        "Deployment {name}"
    );
    assert!(
        pod_context["runAsUser"]
            .as_u64()
            .is_some_and(|uid| uid != 0),
        "Deployment {name}: runAsUser must be a non-zero uid"
    );

    // Workload Identity: the pod label, and a ServiceAccount carrying the client id.
    assert_eq!(
        template["metadata"]["labels"]["azure.workload.identity/use"],
        Value::String("true".to_string()),
        "Deployment {name}: the Workload Identity webhook only acts on pods labelled so (a string)"
    );
    let account = find(docs, "ServiceAccount", string(&pod["serviceAccountName"]));
    assert!(
        !string(&account["metadata"]["annotations"]["azure.workload.identity/client-id"])
            .is_empty(),
        "ServiceAccount {}: no azure.workload.identity/client-id",
        string(&pod["serviceAccountName"])
    );

    // Prometheus scrapes the admin port.
    let annotations = &template["metadata"]["annotations"];
    assert_eq!(
        string(&annotations["prometheus.io/scrape"]),
        "true",
        "{name}"
    );
    assert_eq!(
        string(&annotations["prometheus.io/port"]),
        admin.to_string(),
        "Deployment {name}: Prometheus must scrape the admin port"
    );

    // The config: the ConfigMap mounted where the command line reads it.
    let args: Vec<&str> = seq(&entrance["args"]).iter().map(string).collect();
    let config_path = match args.iter().position(|a| *a == "--config") {
        Some(i) => args[i + 1],
        None => panic!("Deployment {name}: entrance's args name no --config: {args:?}"),
    };
    let mounts: Vec<(String, String)> = seq(&entrance["volumeMounts"])
        .iter()
        .map(|m| {
            (
                string(&m["name"]).to_string(),
                string(&m["mountPath"]).to_string(),
            )
        })
        .collect();
    let (volume, dir) = match mounts.iter().find(|(_, dir)| {
        config_path
            .strip_prefix(dir.as_str())
            .is_some_and(|rest| rest.starts_with('/'))
    }) {
        Some(found) => found,
        None => panic!("Deployment {name}: nothing is mounted where {config_path} is"),
    };
    let key = &config_path[dir.len() + 1..];
    let volume = match seq(&pod["volumes"])
        .iter()
        .find(|v| string(&v["name"]) == volume)
    {
        Some(volume) => volume,
        None => panic!("Deployment {name}: no volume {volume}"),
    };
    let map = find(docs, "ConfigMap", string(&volume["configMap"]["name"]));
    let config = match map["data"][key].as_str() {
        Some(config) => config.to_string(),
        None => panic!("Deployment {name}: the ConfigMap has no key {key}"),
    };
    let secret_volume = seq(&pod["volumes"])
        .iter()
        .find(|v| !v["secret"].is_null())
        .unwrap_or_else(|| panic!("Deployment {name}: no Secret volume for the *_file secrets"));
    assert_eq!(
        string(&secret_volume["secret"]["secretName"]),
        "entrance-secrets",
        "Deployment {name}: the Secret configmap.yaml tells operators to create"
    );

    EntrancePod {
        pod,
        http,
        admin,
        config,
        mounts: mounts.into_iter().map(|(_, dir)| dir).collect(),
    }
}

/// Every `*_file` value in a config tree, with its key.
fn file_keys(value: &Value, out: &mut Vec<(String, String)>) {
    if let Some(map) = value.as_mapping() {
        for (key, value) in map {
            let key = string(key);
            match value.as_str() {
                Some(path) if key.ends_with("_file") => {
                    out.push((key.to_string(), path.to_string()))
                }
                _ => file_keys(value, out),
            }
        }
    }
}

/// Loads `pod`'s config as entrance would inside it: every `*_file` must lie in a mount of the
/// entrance container (or be the Workload Identity token the webhook mounts); the files are
/// made in a temp dir standing for the pod's filesystem; the environment is the webhook's.
fn load_in_pod(name: &str, pod: &EntrancePod, client_id: &str) -> entrance::config::Config {
    let root = TempDir::new();
    let tree: Value = serde_yaml::from_str(&pod.config).unwrap();
    let mut files = Vec::new();
    file_keys(&tree, &mut files);
    assert!(
        !files.is_empty(),
        "{name}: the config reads no secret from a file"
    );
    let mut text = pod.config.clone();
    let mut token_file = String::new();
    for (key, path) in &files {
        let mounted = pod
            .mounts
            .iter()
            .any(|dir| path.starts_with(&format!("{dir}/")))
            || path.starts_with(WORKLOAD_IDENTITY_TOKEN_DIR);
        assert!(
            mounted,
            "{name}: {key} reads {path}, which nothing mounts into entrance"
        );
        let local = root.path.join(path.trim_start_matches('/'));
        std::fs::create_dir_all(local.parent().unwrap()).unwrap();
        let content = match key.as_str() {
            "secret_file" => random_session_secret(),
            "federated_token_file" => "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ0ZXN0In0.c2ln".to_string(),
            _ => "a-client-secret-value".to_string(),
        };
        std::fs::write(&local, content).unwrap();
        let local = local.display().to_string();
        if key == "federated_token_file" {
            token_file = local.clone();
        }
        text = text.replace(path.as_str(), &local);
    }
    let env = |variable: &str| match variable {
        "AZURE_CLIENT_ID" => Some(client_id.to_string()),
        "AZURE_TENANT_ID" => Some(TENANT.to_string()),
        "AZURE_AUTHORITY_HOST" => Some("https://login.microsoftonline.com/".to_string()),
        "AZURE_FEDERATED_TOKEN_FILE" => Some(token_file.clone()),
        _ => None,
    };
    match entrance::config::load_str(&text, &env) {
        Ok(config) => config,
        Err(error) => panic!("{name}: the ConfigMap's config does not load:\n{error}\n---\n{text}"),
    }
}

/// Checks a loaded config against its pod: ports, Workload Identity, and what the kubelet and
/// Prometheus can reach.
fn assert_config_fits(
    name: &str,
    config: &entrance::config::Config,
    pod: &EntrancePod,
    client_id: &str,
) {
    assert_eq!(
        config.listen.port(),
        pod.http,
        "{name}: listen vs the http containerPort"
    );
    assert!(
        config.listen.ip().is_unspecified(),
        "{name}: listen must accept the kubelet's probes and the Service (0.0.0.0), not {}",
        config.listen
    );
    let admin: SocketAddr = config.admin.listen.expect("admin.listen is on");
    assert_eq!(
        admin.port(),
        pod.admin,
        "{name}: admin.listen vs the admin containerPort"
    );
    assert!(
        admin.ip().is_unspecified(),
        "{name}: Prometheus scrapes the pod IP"
    );
    assert_eq!(
        config.provider.client_id, client_id,
        "{name}: client id from the webhook"
    );
    assert_eq!(
        config.provider.tenant, TENANT,
        "{name}: tenant from the webhook"
    );
    assert!(
        matches!(
            config.provider.credential,
            ClientCredential::FederatedTokenFile(_)
        ),
        "{name}: Workload Identity means the federated token is the credential"
    );
    assert_eq!(
        config.public_url.scheme(),
        "https",
        "{name}: public_url behind an ingress"
    );
}

#[test]
fn every_manifest_parses_and_the_objects_an_operator_applies_are_there() {
    let docs = kubernetes_documents();
    let kinds: BTreeSet<(String, String)> = docs
        .iter()
        .map(|d| (d.kind().to_string(), d.name().to_string()))
        .collect();
    for (kind, name) in [
        ("ServiceAccount", "entrance"),
        ("ConfigMap", "entrance-sidecar"),
        ("ConfigMap", "entrance-gateway"),
        ("Deployment", "my-app"),
        ("Service", "my-app"),
        ("Deployment", "entrance"),
        ("Service", "entrance"),
        ("PodDisruptionBudget", "entrance"),
        ("HorizontalPodAutoscaler", "entrance"),
        ("NetworkPolicy", "my-app-backend-only-from-entrance"),
        ("PodMonitor", "entrance"),
    ] {
        assert!(
            kinds.contains(&(kind.to_string(), name.to_string())),
            "missing {kind} {name}; found {kinds:?}"
        );
    }
    // No Secret with a made-up value: operators create it (configmap.yaml says how).
    assert!(
        !docs.iter().any(|d| d.kind() == "Secret"),
        "a Secret in the examples"
    );
}

#[test]
fn the_sidecar_app_is_reachable_only_through_entrance() {
    let docs = kubernetes_documents();
    let pod = check_entrance_deployment(&docs, "my-app");
    let client_id = string(
        &find(&docs, "ServiceAccount", "entrance")["metadata"]["annotations"]
            ["azure.workload.identity/client-id"],
    );
    let config = load_in_pod("sidecar", &pod, client_id);
    assert_config_fits("sidecar", &config, &pod, client_id);

    // The app binds loopback, on the port entrance forwards to, and declares no port.
    assert_eq!(
        upstream_url(&config).host_str(),
        Some("127.0.0.1"),
        "sidecar upstream"
    );
    let upstream_port = upstream_url(&config)
        .port()
        .expect("an explicit upstream port");
    let app = container(pod.pod, "app");
    let args: Vec<&str> = seq(&app["args"]).iter().map(string).collect();
    assert!(
        args.contains(&format!("-listen=127.0.0.1:{upstream_port}").as_str()),
        "the app must listen on 127.0.0.1:{upstream_port}, where entrance sends requests: {args:?}"
    );
    assert!(
        app["ports"].is_null(),
        "the app must expose no port of its own"
    );
    // Only entrance signs in to Microsoft.
    let template = &find(&docs, "Deployment", "my-app")["spec"]["template"];
    assert_eq!(
        string(&template["metadata"]["annotations"]["azure.workload.identity/skip-containers"]),
        "app"
    );

    // The Service reaches the pods, and entrance's port only.
    let service = find(&docs, "Service", "my-app");
    assert!(selects(
        &service["spec"]["selector"],
        &template["metadata"]["labels"]
    ));
    for port in seq(&service["spec"]["ports"]) {
        assert_eq!(
            string(&port["targetPort"]),
            "http",
            "Service my-app must target entrance"
        );
    }
}

#[test]
fn the_gateway_fronts_the_app_service_and_survives_disruption() {
    let docs = kubernetes_documents();
    let pod = check_entrance_deployment(&docs, "entrance");
    let client_id = string(
        &find(&docs, "ServiceAccount", "entrance")["metadata"]["annotations"]
            ["azure.workload.identity/client-id"],
    );
    let config = load_in_pod("gateway", &pod, client_id);
    assert_config_fits("gateway", &config, &pod, client_id);
    assert!(
        !config.trusted_proxies.is_empty(),
        "behind an ingress, the gateway must trust the ingress's forwarding headers"
    );

    let labels = &find(&docs, "Deployment", "entrance")["spec"]["template"]["metadata"]["labels"];
    let service = find(&docs, "Service", "entrance");
    assert!(
        selects(&service["spec"]["selector"], labels),
        "Service entrance"
    );
    for port in seq(&service["spec"]["ports"]) {
        assert_eq!(string(&port["targetPort"]), "http", "Service entrance");
    }
    let budget = find(&docs, "PodDisruptionBudget", "entrance");
    assert!(
        selects(&budget["spec"]["selector"]["matchLabels"], labels),
        "PDB selector"
    );
    assert!(budget["spec"]["minAvailable"]
        .as_u64()
        .is_some_and(|n| n >= 1));
    let replicas = find(&docs, "Deployment", "entrance")["spec"]["replicas"]
        .as_u64()
        .unwrap();
    assert!(
        replicas >= 2,
        "a PDB of 1 with one replica blocks every drain"
    );
    let hpa = find(&docs, "HorizontalPodAutoscaler", "entrance");
    assert_eq!(string(&hpa["spec"]["scaleTargetRef"]["name"]), "entrance");
    assert_eq!(string(&hpa["spec"]["scaleTargetRef"]["kind"]), "Deployment");

    // Only entrance reaches the app: the NetworkPolicy admits entrance's pods.
    let policy = find(&docs, "NetworkPolicy", "my-app-backend-only-from-entrance");
    let from = &policy["spec"]["ingress"][0]["from"][0]["podSelector"]["matchLabels"];
    assert!(
        selects(from, labels),
        "the NetworkPolicy must admit entrance's pods"
    );
    let upstream = upstream_url(&config);
    let upstream_host = upstream.host_str().unwrap_or("");
    assert!(
        string(&policy["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/name"])
            .starts_with(upstream_host),
        "the NetworkPolicy guards the app entrance forwards to ({upstream_host})"
    );
}

#[test]
fn the_image_runs_entrance_as_non_root_with_the_config_where_the_manifests_mount_it() {
    let dockerfile = read("deploy/Dockerfile");
    assert!(dockerfile.contains("cargo build --release --locked"));
    assert!(dockerfile.contains("FROM gcr.io/distroless/cc-debian12:nonroot"));
    assert!(dockerfile.contains("ENTRYPOINT [\"/entrance\"]"));
    assert!(
        dockerfile.contains("CMD [\"run\", \"--config\", \"/etc/entrance/config.yaml\"]"),
        "the image's default config path is where the manifests mount the ConfigMap"
    );
    let user = dockerfile
        .lines()
        .find_map(|line| line.strip_prefix("USER "))
        .expect("a USER line");
    assert!(
        user.split(':')
            .all(|id| id.parse::<u32>().is_ok_and(|id| id != 0)),
        "USER must be a numeric non-root uid (runAsNonRoot cannot check a name): {user}"
    );
    let exposed = dockerfile
        .lines()
        .find_map(|line| line.strip_prefix("EXPOSE "))
        .expect("an EXPOSE line");
    assert_eq!(exposed.trim(), "4180 9180");
}

/// The header names of `list`, lower-case.
fn names(list: &[Value]) -> BTreeSet<String> {
    list.iter()
        .map(|v| string(v).to_ascii_lowercase())
        .collect()
}

fn identity_headers() -> BTreeSet<String> {
    IDENTITY_HEADERS.iter().map(|h| h.to_string()).collect()
}

#[test]
fn traefik_and_envoy_examples_carry_every_identity_header_and_nothing_forged() {
    let traefik: Value = serde_yaml::from_str(&read("deploy/traefik/dynamic.yaml")).unwrap();
    let auth = &traefik["http"]["middlewares"]["entrance-auth"]["forwardAuth"];
    assert!(string(&auth["address"]).ends_with("/oauth2/auth"));
    assert_eq!(
        names(seq(&auth["authResponseHeaders"])),
        identity_headers(),
        "Traefik copies (and so clears) exactly entrance's identity headers"
    );
    assert!(auth["trustForwardHeader"].as_bool().is_some());

    let envoy: Value = serde_yaml::from_str(&read("deploy/envoy/envoy.yaml")).unwrap();
    let manager = &envoy["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]
        ["typed_config"];
    let filters = seq(&manager["http_filters"]);
    let order: Vec<&str> = filters.iter().map(|f| string(&f["name"])).collect();
    assert_eq!(
        order,
        [
            "envoy.filters.http.header_mutation",
            "envoy.filters.http.ext_authz",
            "envoy.filters.http.router"
        ],
        "client identity headers are removed before the check adds entrance's"
    );
    let removed: BTreeSet<String> =
        seq(&filters[0]["typed_config"]["mutations"]["request_mutations"])
            .iter()
            .map(|m| string(&m["remove"]).to_string())
            .collect();
    assert_eq!(removed, identity_headers());
    let service = &filters[1]["typed_config"]["http_service"];
    assert_eq!(string(&service["path_prefix"]), "/oauth2/auth");
    assert_eq!(
        filters[1]["typed_config"]["failure_mode_allow"],
        Value::Bool(false)
    );
}

/// Opening and closing template actions balance, and every block (`if`, `with`, `range`,
/// `define`) has its `end`: the mistakes `helm template` would catch first.
fn assert_template_balanced(name: &str, text: &str) {
    assert_eq!(
        text.matches("{{").count(),
        text.matches("}}").count(),
        "{name}: unbalanced {{{{ }}}}"
    );
    let mut depth = 0i32;
    for action in text.split("{{").skip(1) {
        let action = action.split("}}").next().unwrap_or("");
        let word = action
            .trim_start_matches('-')
            .split_whitespace()
            .next()
            .unwrap_or("");
        match word {
            "if" | "with" | "range" | "define" => depth += 1,
            "end" => depth -= 1,
            _ => {}
        }
        assert!(depth >= 0, "{name}: an end without a block");
    }
    assert_eq!(depth, 0, "{name}: a block without its end");
}

#[test]
fn the_helm_chart_renders_the_same_probes_security_and_identity() {
    let chart: Value = serde_yaml::from_str(&read("deploy/helm/entrance/Chart.yaml")).unwrap();
    assert_eq!(string(&chart["apiVersion"]), "v2");
    assert_eq!(string(&chart["name"]), "entrance");
    assert!(!string(&chart["version"]).is_empty());

    let values: Value = serde_yaml::from_str(&read("deploy/helm/entrance/values.yaml")).unwrap();
    assert!(matches!(string(&values["mode"]), "gateway" | "sidecar"));
    assert_eq!(
        string(&values["livenessProbe"]["httpGet"]["path"]),
        "/healthz"
    );
    assert_eq!(
        string(&values["readinessProbe"]["httpGet"]["path"]),
        "/readyz"
    );
    for probe in ["livenessProbe", "readinessProbe"] {
        assert_eq!(string(&values[probe]["httpGet"]["port"]), "http", "{probe}");
    }
    assert_locked_down(
        "values.securityContext",
        &values["securityContext"],
        &values["podSecurityContext"],
    );
    assert_locked_down(
        "values.sidecar.app.securityContext",
        &values["sidecar"]["app"]["securityContext"],
        &values["podSecurityContext"],
    );
    assert_eq!(
        values["podSecurityContext"]["runAsNonRoot"],
        Value::Bool(true)
    );
    for key in ["requests", "limits"] {
        assert!(
            !values["resources"][key]["memory"].is_null(),
            "resources.{key}"
        );
    }
    assert_eq!(
        values["serviceAccount"]["workloadIdentity"]["enabled"],
        Value::Bool(true)
    );

    let dir = repo_path("deploy/helm/entrance/templates");
    let mut templates = String::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_template_balanced(&path.display().to_string(), &text);
        templates.push_str(&text);
    }
    for needle in [
        // Both shapes share one entrance container with the values' probes and context.
        "toYaml .Values.livenessProbe",
        "toYaml .Values.readinessProbe",
        "toYaml .Values.securityContext",
        "toYaml .Values.podSecurityContext",
        "toYaml .Values.resources",
        "containerPort: {{ .Values.ports.http }}",
        "containerPort: {{ .Values.ports.admin }}",
        "include \"entrance.container\"",
        // The config's ports come from the same values as the container's.
        "printf \"0.0.0.0:%d\" (int .Values.ports.http)",
        "printf \"0.0.0.0:%d\" (int .Values.ports.admin)",
        "printf \"http://127.0.0.1:%d\" (int .Values.sidecar.appPort)",
        // Workload Identity, Service, and the optional objects.
        "azure.workload.identity/use: \"true\"",
        "azure.workload.identity/client-id:",
        "targetPort: http",
        "kind: PodDisruptionBudget",
        "kind: HorizontalPodAutoscaler",
        "if .Values.podDisruptionBudget.enabled",
        "if .Values.autoscaling.enabled",
        "readOnly: true",
    ] {
        assert!(
            templates.contains(needle),
            "the chart's templates lack `{needle}`"
        );
    }
    assert!(dir.join("NOTES.txt").is_file() && dir.join("_helpers.tpl").is_file());

    // values.config, completed as _helpers.tpl completes it, loads as entrance loads it.
    let mut config = values["config"].clone();
    let http = values["ports"]["http"].as_u64().unwrap();
    let admin = values["ports"]["admin"].as_u64().unwrap();
    let map = config.as_mapping_mut().unwrap();
    map.insert("listen".into(), format!("0.0.0.0:{http}").into());
    let mut admin_map = serde_yaml::Mapping::new();
    admin_map.insert("listen".into(), format!("0.0.0.0:{admin}").into());
    map.insert("admin".into(), Value::Mapping(admin_map));
    map.insert("upstream".into(), values["gateway"]["upstream"].clone());
    if map
        .get("trusted_proxies")
        .is_some_and(|v| seq(v).is_empty())
    {
        map.remove("trusted_proxies");
    }
    if map
        .get("authorization")
        .is_some_and(|v| v.as_mapping().is_some_and(|m| m.is_empty()))
    {
        map.remove("authorization");
    }
    let pod = EntrancePod {
        pod: &Value::Null,
        http: u16::try_from(http).unwrap(),
        admin: u16::try_from(admin).unwrap(),
        config: serde_yaml::to_string(&config).unwrap(),
        mounts: vec![string(&values["secrets"]["mountPath"]).to_string()],
    };
    let client_id = string(&values["serviceAccount"]["workloadIdentity"]["clientId"]);
    let loaded = load_in_pod("helm values", &pod, client_id);
    assert_eq!(loaded.listen.port(), pod.http);

    // The sidecar stand-in listens where the chart points entrance.
    let app_port = values["sidecar"]["appPort"].as_u64().unwrap();
    let args: Vec<&str> = seq(&values["sidecar"]["app"]["args"])
        .iter()
        .map(string)
        .collect();
    assert!(
        args.contains(&format!("-listen=127.0.0.1:{app_port}").as_str()),
        "{args:?}"
    );
}

/// The URL of the config's only upstream (the example configs have one).
fn upstream_url(config: &entrance::config::Config) -> url::Url {
    match &config.upstreams[0].target {
        entrance::upstream::Target::Url(url) => url.clone(),
        other => panic!("the example's upstream is not a URL: {other:?}"),
    }
}
