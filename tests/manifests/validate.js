// Validates Kubernetes manifests against the Kubernetes OpenAPI schemas (the npm kubernetes-models
// package, pinned in package-lock.json) and then some of what the API server checks beyond them:
//   - unknown fields (what `kubectl apply --validate=strict` rejects; the OpenAPI schemas allow
//     them), found by walking each object against the package's TypeScript declarations;
//   - the API server's validation of MutatingWebhookConfigurations (k8s.io/kubernetes
//     pkg/apis/admissionregistration/validation): fully qualified, unique webhook names, Service
//     path segments that are RFC 1123 subdomains, timeoutSeconds 1..30, known review versions,
//     selector values; and revrouter's own rule that nothing may look like Istio's webhooks, whose
//     caBundle istiod rewrites (webhooks named *sidecar-injector.istio.io, configurations labelled
//     istio.io/rev or istio.io/tag);
//   - object names, label keys and values, Deployment selectors against template labels, and named
//     ports that a probe or a Service of the same set refers to.
//
// Usage: node validate.js FILE...                every document of every file must be valid
//        node validate.js --expect-invalid FILE... every file must be rejected, with the message
//                                                  its "# expect: <text>" line names
// Exit status 0 when all is as expected; 1 otherwise, naming each file and problem.
"use strict";

const fs = require("fs");
const path = require("path");
const YAML = require("yaml");

const MODELS = path.dirname(require.resolve("kubernetes-models/package.json"));
const NODE_MODULES = path.dirname(MODELS);

// ----------------------------------------------------------------------------------------------
// Kubernetes name and label syntax (k8s.io/apimachinery/pkg/util/validation).

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const isDnsLabel = (s) => typeof s === "string" && s.length <= 63 && DNS_LABEL.test(s);
const isDnsSubdomain = (s) =>
  typeof s === "string" && s.length > 0 && s.length <= 253 && s.split(".").every(isDnsLabel);
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const isLabelValue = (s) => typeof s === "string" && s.length <= 63 && LABEL_VALUE.test(s);
function isQualifiedName(k) {
  if (typeof k !== "string") return false;
  const parts = k.split("/");
  if (parts.length > 2) return false;
  const name = parts[parts.length - 1];
  if (parts.length === 2 && !isDnsSubdomain(parts[0])) return false;
  return name.length > 0 && isLabelValue(name);
}
// IANA_SVC_NAME: what a named container or Service port must be.
const isPortName = (s) =>
  typeof s === "string" && s.length <= 15 && /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(s) &&
  /[a-z]/.test(s) && !s.includes("--");

// ----------------------------------------------------------------------------------------------
// Unknown fields: the TypeScript declarations list every field of every type.

const declCache = new Map();  // .d.ts file -> {fields: Map(name -> type text), imports} | null

function stripComments(text) {
  return text.replace(/\/\*[\s\S]*?\*\//g, "").replace(/^\s*\/\/.*$/gm, "");
}

// The fields of the first `export interface` in a declaration file; null for a type alias
// (Quantity, IntOrString, Time: leaves).
function loadDecl(file) {
  if (declCache.has(file)) return declCache.get(file);
  const text = stripComments(fs.readFileSync(file, "utf8"));
  const imports = new Map();
  for (const m of text.matchAll(/import\s*\{([^}]*)\}\s*from\s*"([^"]+)"/g)) {
    for (const name of m[1].split(",").map((s) => s.trim()).filter(Boolean)) {
      imports.set(name, m[2]);
    }
  }
  const start = text.search(/export interface \w+[^{]*\{/);
  let decl = null;
  if (start >= 0) {
    const open = text.indexOf("{", start);
    const fields = new Map();
    let i = open + 1;
    let depth = 0;
    let body = "";
    for (; i < text.length; i++) {
      const c = text[i];
      if (c === "{" || c === "<") depth++;
      if (c === "}" || c === ">") {
        if (depth === 0 && c === "}") break;
        depth--;
      }
      body += c;
    }
    // Split the body into `"name"?: type;` entries at depth 0.
    depth = 0;
    let entry = "";
    for (const c of body) {
      if (c === "{" || c === "<") depth++;
      if (c === "}" || c === ">") depth--;
      if (c === ";" && depth === 0) {
        const m = entry.trim().match(/^"([^"]+)"\??:\s*([\s\S]*)$/);
        if (m) fields.set(m[1], m[2].trim());
        entry = "";
      } else {
        entry += c;
      }
    }
    decl = { file, fields, imports };
  }
  declCache.set(file, decl);
  return decl;
}

function resolveImport(fromFile, spec) {
  const base = spec.startsWith(".") ? path.resolve(path.dirname(fromFile), spec)
                                    : path.join(NODE_MODULES, spec);
  return base + ".d.ts";
}

// Reports every field of `value` that its type does not declare.
function checkFields(value, type, decl, where, problems) {
  if (value === null || value === undefined) return;
  type = type.trim();
  const array = type.match(/^Array<([\s\S]*)>$/);
  if (array) {
    if (Array.isArray(value)) value.forEach((v, i) => checkFields(v, array[1], decl, `${where}[${i}]`, problems));
    return;
  }
  const map = type.match(/^\{\s*\[key: string\]:\s*([\s\S]*?);?\s*\}$/);
  if (map) {
    if (typeof value === "object" && !Array.isArray(value)) {
      for (const [k, v] of Object.entries(value)) checkFields(v, map[1], decl, `${where}.${k}`, problems);
    }
    return;
  }
  if (!/^I\w+$/.test(type) || !decl.imports.has(type)) return;  // a leaf
  const target = loadDecl(resolveImport(decl.file, decl.imports.get(type)));
  if (target) checkObject(value, target, where, problems);
}

function checkObject(value, decl, where, problems) {
  if (typeof value !== "object" || Array.isArray(value)) return;  // the schema reports the type
  for (const [k, v] of Object.entries(value)) {
    if (!decl.fields.has(k)) {
      problems.push(`${where}.${k}: unknown field (not in ${path.basename(decl.file, ".d.ts")})`);
      continue;
    }
    checkFields(v, decl.fields.get(k), decl, `${where}.${k}`, problems);
  }
}

// ----------------------------------------------------------------------------------------------
// The model class for apiVersion/kind.

function modelFor(apiVersion, kind) {
  if (typeof apiVersion !== "string" || typeof kind !== "string" || !/^\w+$/.test(kind)) {
    return null;
  }
  const dir = path.join(MODELS, apiVersion);  // "v1" -> core, "apps/v1", "policy/v1", ...
  const decl = path.join(dir, `${kind}.d.ts`);
  if (!fs.existsSync(decl)) return null;
  const Model = require(dir)[kind];
  return Model ? { Model, decl } : null;
}

// ----------------------------------------------------------------------------------------------
// What the API server checks beyond the schema.

function checkMetadata(doc, problems) {
  const md = doc.metadata || {};
  if (!isDnsSubdomain(md.name)) problems.push(`metadata.name ${JSON.stringify(md.name)} is not an RFC 1123 subdomain`);
  if (md.namespace !== undefined && !isDnsLabel(md.namespace)) problems.push(`metadata.namespace ${JSON.stringify(md.namespace)}`);
  for (const [field, values] of [["labels", true], ["annotations", false]]) {
    for (const [k, v] of Object.entries(md[field] || {})) {
      if (!isQualifiedName(k)) problems.push(`metadata.${field}: key ${JSON.stringify(k)} is not a qualified name`);
      if (values && !isLabelValue(v)) problems.push(`metadata.labels.${k}: value ${JSON.stringify(v)} is not a label value`);
    }
  }
}

function checkSelector(sel, where, problems) {
  if (!sel) return;
  for (const [k, v] of Object.entries(sel.matchLabels || {})) {
    if (!isQualifiedName(k) || !isLabelValue(v)) problems.push(`${where}.matchLabels: ${k}=${v}`);
  }
  (sel.matchExpressions || []).forEach((e, i) => {
    const w = `${where}.matchExpressions[${i}]`;
    if (!isQualifiedName(e.key)) problems.push(`${w}.key ${JSON.stringify(e.key)}`);
    const values = e.values || [];
    if (["In", "NotIn"].includes(e.operator) && values.length === 0) problems.push(`${w}: ${e.operator} needs values`);
    if (["Exists", "DoesNotExist"].includes(e.operator) && values.length > 0) problems.push(`${w}: ${e.operator} takes no values`);
    if (!["In", "NotIn", "Exists", "DoesNotExist"].includes(e.operator)) problems.push(`${w}: operator ${e.operator}`);
    values.forEach((v) => { if (!isLabelValue(v)) problems.push(`${w}: value ${JSON.stringify(v)} is not a label value`); });
  });
}

function checkMutatingWebhookConfiguration(doc, problems) {
  const labels = (doc.metadata && doc.metadata.labels) || {};
  for (const reserved of ["istio.io/rev", "istio.io/tag"]) {
    if (reserved in labels) problems.push(`metadata.labels: ${reserved} makes istiod treat this configuration as its own`);
  }
  const seen = new Set();
  (doc.webhooks || []).forEach((w, i) => {
    const where = `webhooks[${i}] (${w.name})`;
    if (seen.has(w.name)) problems.push(`${where}: duplicate webhook name`);
    seen.add(w.name);
    if (!isDnsSubdomain(w.name) || w.name.split(".").length < 3) problems.push(`${where}: name must be a fully qualified domain name (at least three segments)`);
    if (typeof w.name === "string" && w.name.endsWith("sidecar-injector.istio.io")) problems.push(`${where}: istiod's caBundle patcher rewrites webhooks named *sidecar-injector.istio.io`);
    const cc = w.clientConfig || {};
    if ((cc.url === undefined) === (cc.service === undefined)) problems.push(`${where}: exactly one of clientConfig.url and clientConfig.service`);
    if (cc.url !== undefined) {
      let u = null;
      try { u = new URL(cc.url); } catch (e) { problems.push(`${where}: url ${cc.url}: ${e.message}`); }
      if (u && (u.protocol !== "https:" || u.search || u.hash || u.username)) problems.push(`${where}: url must be https with no query, fragment or user`);
    }
    if (cc.service) {
      const s = cc.service;
      if (!isDnsLabel(s.name) || !isDnsLabel(s.namespace)) problems.push(`${where}: service reference ${s.namespace}/${s.name}`);
      if (s.port !== undefined && (s.port < 1 || s.port > 65535)) problems.push(`${where}: service port ${s.port}`);
      if (s.path !== undefined && s.path !== "/" && s.path !== "") {
        if (!s.path.startsWith("/")) problems.push(`${where}: path must start with '/'`);
        s.path.slice(1).replace(/\/$/, "").split("/").forEach((seg, j) => {
          if (!isDnsSubdomain(seg)) problems.push(`${where}: path segment[${j}] ${JSON.stringify(seg)} is not an RFC 1123 subdomain`);
        });
      }
    }
    if (cc.caBundle !== undefined && !/^[A-Za-z0-9+/]+={0,2}$/.test(cc.caBundle)) problems.push(`${where}: caBundle is not base64`);
    if (w.timeoutSeconds !== undefined && (w.timeoutSeconds < 1 || w.timeoutSeconds > 30)) problems.push(`${where}: timeoutSeconds must be 1..30`);
    const versions = w.admissionReviewVersions || [];
    if (new Set(versions).size !== versions.length) problems.push(`${where}: duplicate admissionReviewVersions`);
    if (!versions.some((v) => v === "v1" || v === "v1beta1")) problems.push(`${where}: admissionReviewVersions needs v1 or v1beta1`);
    if (!["None", "NoneOnDryRun"].includes(w.sideEffects)) problems.push(`${where}: sideEffects must be None or NoneOnDryRun in v1`);
    checkSelector(w.namespaceSelector, `${where}.namespaceSelector`, problems);
    checkSelector(w.objectSelector, `${where}.objectSelector`, problems);
  });
}

function containerPortNames(podSpec) {
  const names = new Set();
  for (const c of [...(podSpec.containers || []), ...(podSpec.initContainers || [])]) {
    for (const p of c.ports || []) if (p.name) names.add(p.name);
  }
  return names;
}

function checkDeployment(doc, problems) {
  const spec = doc.spec || {};
  const labels = (spec.template && spec.template.metadata && spec.template.metadata.labels) || {};
  for (const [k, v] of Object.entries((spec.selector && spec.selector.matchLabels) || {})) {
    if (labels[k] !== v) problems.push(`spec.selector: ${k}=${v} does not match the template's labels`);
  }
  checkSelector(spec.selector, "spec.selector", problems);
  const pod = (spec.template && spec.template.spec) || {};
  const ports = containerPortNames(pod);
  for (const c of pod.containers || []) {
    for (const p of c.ports || []) if (p.name && !isPortName(p.name)) problems.push(`container ${c.name}: port name ${p.name} is not an IANA service name`);
    for (const probe of ["readinessProbe", "livenessProbe", "startupProbe"]) {
      const port = c[probe] && (c[probe].httpGet || c[probe].tcpSocket || {}).port;
      if (typeof port === "string" && !ports.has(port)) problems.push(`container ${c.name}: ${probe} names port ${port}, which no container declares`);
    }
  }
}

// Cross-object: a Service's named targetPort, an HPA's target and a PDB's selector must find the
// Deployment of the same set.
function checkSet(docs, problems) {
  const deployments = docs.filter((d) => d.doc.kind === "Deployment");
  const podLabelsOf = (d) => (((d.doc.spec || {}).template || {}).metadata || {}).labels || {};
  const selects = (sel, labels) => Object.entries(sel || {}).every(([k, v]) => labels[k] === v);
  for (const { file, doc } of docs) {
    const where = `${file}: ${doc.kind} ${doc.metadata && doc.metadata.name}`;
    if (doc.kind === "Service") {
      const targets = deployments.filter((d) => selects(doc.spec.selector, podLabelsOf(d)));
      if (deployments.length && targets.length === 0) problems.push(`${where}: selects no Deployment's pods`);
      for (const p of doc.spec.ports || []) {
        if (typeof p.targetPort === "string" && !targets.some((d) => containerPortNames(d.doc.spec.template.spec).has(p.targetPort))) {
          problems.push(`${where}: targetPort ${p.targetPort} is no container port of the selected pods`);
        }
      }
    }
    if (doc.kind === "PodDisruptionBudget" && deployments.length &&
        !deployments.some((d) => selects(doc.spec.selector.matchLabels, podLabelsOf(d)))) {
      problems.push(`${where}: selects no Deployment's pods`);
    }
    if (doc.kind === "HorizontalPodAutoscaler" && deployments.length) {
      const ref = doc.spec.scaleTargetRef;
      if (!deployments.some((d) => ref.kind === "Deployment" && d.doc.metadata.name === ref.name)) {
        problems.push(`${where}: scaleTargetRef ${ref.kind}/${ref.name} is not in the set`);
      }
    }
  }
}

// ----------------------------------------------------------------------------------------------

function validateFile(file) {
  const problems = [];
  const docs = [];
  let parsed;
  try {
    parsed = YAML.parseAllDocuments(fs.readFileSync(file, "utf8"), { uniqueKeys: true, prettyErrors: true });
  } catch (e) {
    return { problems: [`cannot read: ${e.message}`], docs };
  }
  parsed.forEach((d, n) => {
    const label = `document ${n + 1}`;
    for (const e of d.errors) problems.push(`${label}: YAML: ${e.message}`);
    if (d.errors.length) return;
    const doc = d.toJS();
    if (doc === null || doc === undefined) return;  // an empty document (a trailing ---)
    const model = modelFor(doc.apiVersion, doc.kind);
    if (!model) {
      problems.push(`${label}: no Kubernetes schema for ${doc.apiVersion} ${doc.kind}`);
      return;
    }
    const own = [];
    try {
      new model.Model(doc).validate();
    } catch (e) {
      own.push(`schema: ${e.message}`);
    }
    checkObject(doc, loadDecl(model.decl), doc.kind, own);
    checkMetadata(doc, own);
    if (doc.kind === "MutatingWebhookConfiguration") checkMutatingWebhookConfiguration(doc, own);
    if (doc.kind === "Deployment") checkDeployment(doc, own);
    for (const p of own) problems.push(`${label} (${doc.kind} ${doc.metadata && doc.metadata.name}): ${p}`);
    docs.push({ file: path.basename(file), doc });
  });
  return { problems, docs };
}

function main(argv) {
  const expectInvalid = argv[0] === "--expect-invalid";
  const files = expectInvalid ? argv.slice(1) : argv;
  if (files.length === 0) {
    console.error("usage: node validate.js [--expect-invalid] FILE...");
    return 2;
  }
  let failed = 0;
  let passed = 0;
  const allDocs = [];
  for (const file of files) {
    const { problems, docs } = validateFile(file);
    allDocs.push(...docs);
    if (!expectInvalid) {
      if (problems.length) {
        failed++;
        console.log(`INVALID ${file}`);
        for (const p of problems) console.log(`  ${p}`);
      } else {
        passed++;
        console.log(`ok      ${file} (${docs.map((d) => d.doc.kind).join(", ")})`);
      }
      continue;
    }
    checkSet(docs, problems);
    const expect = (fs.readFileSync(file, "utf8").match(/^# expect: (.+)$/m) || [])[1];
    const hit = expect && problems.some((p) => p.includes(expect.trim()));
    if (hit) {
      passed++;
      console.log(`ok      ${file} rejected: ${expect.trim()}`);
    } else {
      failed++;
      console.log(`MISSED  ${file}: expected a problem containing ${JSON.stringify(expect)}, got:`);
      for (const p of problems.length ? problems : ["(no problem found)"]) console.log(`  ${p}`);
    }
  }
  if (!expectInvalid) {
    const setProblems = [];
    checkSet(allDocs, setProblems);
    for (const p of setProblems) console.log(`INVALID ${p}`);
    if (setProblems.length) failed++;
  }
  console.log(`${passed} passed, ${failed} failed`);
  return failed === 0 ? 0 : 1;
}

process.exitCode = main(process.argv.slice(2));
