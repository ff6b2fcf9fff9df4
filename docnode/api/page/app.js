// docnode clerks' page: plain JavaScript, no build step, no CDN. Talks to /api/v1 with the
// bearer token the clerk pastes in (kept in sessionStorage only, never in the URL).
"use strict";

const I18N = {
  vi: {
    title: "Văn bản điện tử", login: "Đăng nhập", token: "Mã truy cập (token)", signin: "Đăng nhập",
    logout: "Đăng xuất", inbox: "Văn bản đến", outbox: "Văn bản đi", send: "Gửi văn bản",
    search: "Tìm trong trích yếu", counterparty: "Mã cơ quan", filter: "Lọc", more: "Xem thêm",
    subject: "Trích yếu", code: "Số/ký hiệu", from: "Nơi gửi", to: "Nơi nhận", received: "Ngày nhận",
    sent: "Ngày gửi", status: "Trạng thái", state: "Chuyển phát", evidence: "Bằng chứng",
    recipients: "Nơi nhận (mã định danh, cách nhau bởi dấu phẩy)", directory: "Tìm nơi nhận trong danh bạ", via_axis: "qua trục", via_direct: "trực tiếp", no_route: "không có đường gửi", number: "Số", notation: "Ký hiệu",
    content: "Nội dung", due: "Hạn xử lý", priority: "Độ khẩn", p0: "Thường", p1: "Khẩn",
    p2: "Thượng khẩn", p3: "Hỏa tốc", signer: "Người ký", files: "Tệp đính kèm", sendbtn: "Gửi",
    back: "← Quay lại", attachments: "Tệp đính kèm", reason: "Lý do (bắt buộc khi từ chối, thu hồi)",
    accept: "Tiếp nhận", refuse: "Từ chối", assign: "Phân công", processing: "Đang xử lý",
    complete: "Hoàn thành", revoke: "Thu hồi", takeback: "Lấy lại",
    recipients_status: "Trạng thái theo nơi nhận", timeline: "Diễn biến", sentok: "Đã gửi văn bản",
    done: "Đã ghi nhận", expiring: "Chứng thư số sắp hết hạn", days: "ngày", expired_cert: "đã hết hạn", none: "Không có văn bản",
    direction: "Chiều", in: "Đến", out: "Đi", document_id: "Mã văn bản", verification: "Xác thực",
    verified: "Đã xác thực chữ ký", unverified: "CHƯA xác thực (văn bản cũ)", business: "Loại nghiệp vụ",
    due_date: "Hạn xử lý", packet: "Gói tin gốc (đã ký)",
    s01: "Đã đến", s02: "Từ chối", s03: "Đã tiếp nhận", s04: "Đã phân công", s05: "Đang xử lý",
    s06: "Hoàn thành", s13: "Yêu cầu lấy lại", s15: "Đồng ý thay đổi", s16: "Từ chối thay đổi",
    queued: "Chờ gửi", sending: "Đang gửi", delivered: "Đã chuyển", failed: "Lỗi",
    expired: "Hết hạn", dead_lettered: "Ngừng gửi", badtoken: "Mã truy cập không hợp lệ",
  },
  en: {
    title: "Electronic documents", login: "Sign in", token: "Access token", signin: "Sign in",
    logout: "Sign out", inbox: "Inbox", outbox: "Outbox", send: "Send a document",
    search: "Search the subject", counterparty: "Organisation id", filter: "Filter", more: "More",
    subject: "Subject", code: "Number/notation", from: "From", to: "To", received: "Received",
    sent: "Sent", status: "Status", state: "Delivery", evidence: "Evidence",
    recipients: "Recipients (OrganIds, comma separated)", directory: "Find recipients in the directory", via_axis: "via the axis", via_direct: "direct", no_route: "no route", number: "Number", notation: "Notation",
    content: "Content", due: "Due date", priority: "Priority", p0: "Normal", p1: "Urgent",
    p2: "Very urgent", p3: "Immediate", signer: "Signed by", files: "Attachments", sendbtn: "Send",
    back: "← Back", attachments: "Attachments", reason: "Reason (required to refuse or revoke)",
    accept: "Accept", refuse: "Refuse", assign: "Assign", processing: "Processing",
    complete: "Complete", revoke: "Revoke", takeback: "Take back",
    recipients_status: "Status per recipient", timeline: "Timeline", sentok: "Document sent",
    done: "Recorded", expiring: "Certificates expiring soon", days: "days", expired_cert: "expired", none: "No documents",
    direction: "Direction", in: "Incoming", out: "Outgoing", document_id: "Document id",
    verification: "Verification", verified: "Signature verified",
    unverified: "NOT verified (legacy)", business: "Business type", due_date: "Due date",
    packet: "Original signed packet",
    s01: "Arrived", s02: "Refused", s03: "Accepted", s04: "Assigned", s05: "Processing",
    s06: "Completed", s13: "Take-back requested", s15: "Change agreed", s16: "Change refused",
    queued: "Queued", sending: "Sending", delivered: "Delivered", failed: "Failed",
    expired: "Expired", dead_lettered: "Given up", badtoken: "The token is not valid",
  },
};

const state = { lang: localStorage.getItem("docnode.lang") || "vi", token: sessionStorage.getItem("docnode.token"),
                view: "inbox", cursors: {}, current: null };
const $ = (sel, root = document) => root.querySelector(sel);
const t = (key) => (I18N[state.lang][key] ?? key);

function applyLang() {
  document.documentElement.lang = state.lang;
  document.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
  document.querySelectorAll("[data-i18n-placeholder]").forEach((el) => { el.placeholder = t(el.dataset.i18nPlaceholder); });
  $("#lang").textContent = state.lang === "vi" ? "English" : "Tiếng Việt";
}

function show(text, error = false) {
  const box = $("#message");
  box.textContent = text; box.hidden = !text; box.classList.toggle("error", error);
}

async function api(path, options = {}) {
  const headers = Object.assign({ Authorization: `Bearer ${state.token}` }, options.headers || {});
  const resp = await fetch(`/api/v1${path}`, Object.assign({}, options, { headers }));
  if (resp.status === 401) { logout(); throw new Error(t("badtoken")); }
  if (!resp.ok) {
    let problem = {};
    try { problem = await resp.json(); } catch (_e) { /* not JSON */ }
    const fields = (problem.errors || []).map((e) => `${e.field}: ${e.message}`).join("; ");
    throw new Error(`${problem.code || resp.status}: ${fields || problem.detail || problem.title || ""}`);
  }
  return resp;
}

const statusLabel = (code) => (code ? `${code} ${t("s" + code)}` : "");
function badge(text, cls) {
  const span = document.createElement("span");
  span.className = `badge ${cls || ""}`; span.textContent = text; return span;
}
const when = (iso) => (iso ? new Date(iso).toLocaleString(state.lang === "vi" ? "vi-VN" : "en-GB") : "");

async function login(token) {
  state.token = token;
  try {
    const me = await (await api("/me")).json();
    sessionStorage.setItem("docnode.token", token);
    $("#who").textContent = `${me.name} · ${me.organ_ids.join(", ")}`;
    $("#login").hidden = true; $("#app").hidden = false; $("#logout").hidden = false;
    show("");
    await banner();
    await open(state.view === "detail" ? "inbox" : state.view);
  } catch (err) {
    state.token = null; sessionStorage.removeItem("docnode.token"); show(err.message, true);
  }
}

function logout() {
  state.token = null; sessionStorage.removeItem("docnode.token");
  $("#login").hidden = false; $("#app").hidden = true; $("#logout").hidden = true; $("#who").textContent = "";
}

async function banner() {
  const data = await (await api("/certificates/expiring?days=30")).json();
  const box = $("#cert-banner");
  box.hidden = data.items.length === 0;
  box.textContent = data.items.length ? `⚠ ${t("expiring")}: ` + data.items.map(
    (c) => `${c.subject} (${c.days_left < 0 ? t("expired_cert") : `${Math.floor(c.days_left)} ${t("days")}`})`).join("; ") : "";
}

function setView(name) {
  state.view = name;
  document.querySelectorAll(".view").forEach((v) => { v.hidden = v.id !== `view-${name}`; });
  document.querySelectorAll(".tabs button").forEach((b) => b.classList.toggle("active", b.dataset.view === name));
}

async function open(name) {
  show("");
  setView(name);
  if (name === "inbox" || name === "outbox") await loadList(name, false);
  if (name === "send") await searchDirectory();
}

function statusCell(item) {
  const td = document.createElement("td");
  if (item.direction === "in") {
    td.append(badge(statusLabel(item.status_code), `s${item.status_code}`));
  } else {
    item.deliveries.forEach((d) => {
      td.append(badge(d.status_code ? statusLabel(d.status_code) : t(d.state), d.status_code ? `s${d.status_code}` : d.state));
      td.append(" ");
    });
  }
  if (item.verification === "unverified") td.append(badge(t("unverified"), "unverified"));
  return td;
}

async function loadList(name, more) {
  const form = document.querySelector(`form[data-list="${name}"]`);
  const params = new URLSearchParams();
  new FormData(form).forEach((v, k) => { if (v) params.set(k, v); });
  params.set("limit", "20");
  if (more && state.cursors[name]) params.set("cursor", state.cursors[name]);
  const page = await (await api(`/${name}?${params}`)).json();
  const body = $(`#view-${name} tbody`);
  if (!more) body.textContent = "";
  page.items.forEach((item) => {
    const tr = document.createElement("tr");
    tr.dataset.id = item.id;
    const party = item.direction === "in" ? item.counterparty : item.deliveries.map((d) => d.recipient_organ_id).join(", ");
    [item.subject, item.code, party, when(item.created_at)].forEach((text) => {
      const td = document.createElement("td"); td.textContent = text; tr.append(td);
    });
    tr.append(statusCell(item));
    tr.addEventListener("click", () => detail(item.id).catch((e) => show(e.message, true)));
    body.append(tr);
  });
  if (!more && page.items.length === 0) {
    const tr = document.createElement("tr"); const td = document.createElement("td");
    td.colSpan = 5; td.textContent = t("none"); tr.append(td); body.append(tr);
  }
  state.cursors[name] = page.next_cursor;
  $(`#view-${name} .more`).hidden = !page.next_cursor;
}

async function download(href, name) {
  const blob = await (await api(href.replace(/^\/api\/v1/, ""))).blob();
  const a = document.createElement("a");
  a.href = URL.createObjectURL(blob); a.download = name; a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 10000);
}

function eventLine(e) {
  const li = document.createElement("li");
  const time = document.createElement("time"); time.textContent = when(e.at); li.append(time);
  const code = e.evidence && e.evidence.status_code;
  li.append(`${e.kind}${code ? " " + statusLabel(code) : ""} — ${e.actor}`);
  const digest = e.evidence && (e.evidence.receipt_sha256 || e.evidence.packet_sha256);
  if (digest) { const c = document.createElement("code"); c.textContent = ` sha256:${digest.slice(0, 16)}…`; li.append(c); }
  return li;
}

async function detail(id) {
  const d = await (await api(`/documents/${id}`)).json();
  state.current = d;
  setView("detail");
  $("#d-subject").textContent = d.subject;
  const dl = $("#d-fields"); dl.textContent = "";
  const rows = [["code", d.code], ["direction", t(d.direction)], [d.direction === "in" ? "from" : "to",
    d.direction === "in" ? d.counterparty : d.to.join(", ")], ["document_id", d.edxml_document_id],
    ["status", d.direction === "in" ? statusLabel(d.status_code) : ""], ["verification", t(d.verification)],
    ["due_date", d.due_date || ""], ["content", d.content || ""]];
  rows.forEach(([k, v]) => {
    if (!v) return;
    const dt = document.createElement("dt"); dt.textContent = t(k);
    const dd = document.createElement("dd"); dd.textContent = v;
    if (k === "status") dd.dataset.testid = "detail-status";
    dl.append(dt, dd);
  });
  const ul = $("#d-attachments"); ul.textContent = "";
  d.attachments.forEach((a) => {
    const li = document.createElement("li"); const btn = document.createElement("a");
    btn.href = "#"; btn.textContent = `${a.name} (${a.size} B)`;
    btn.addEventListener("click", (ev) => { ev.preventDefault(); download(a.href, a.name).catch((e) => show(e.message, true)); });
    li.append(btn); ul.append(li);
  });
  const pk = document.createElement("li"); const pa = document.createElement("a");
  pa.href = "#"; pa.textContent = t("packet");
  pa.addEventListener("click", (ev) => { ev.preventDefault(); download(`/api/v1/documents/${d.id}/packet`, `${d.id}.edxml`).catch((e) => show(e.message, true)); });
  pk.append(pa); ul.append(pk);
  document.querySelectorAll("#d-actions .in-only").forEach((el) => { el.hidden = d.direction !== "in"; });
  document.querySelectorAll("#d-actions .out-only").forEach((el) => { el.hidden = d.direction !== "out"; });
  const tbody = $("#d-deliveries tbody"); tbody.textContent = "";
  d.deliveries.forEach((x) => {
    const tr = document.createElement("tr");
    tr.dataset.recipient = x.recipient_organ_id;
    const cells = [x.recipient_organ_id, t(x.state), statusLabel(x.status_code),
                   x.receipt_sha256 ? `receipt sha256:${x.receipt_sha256.slice(0, 16)}…` : (x.axis_doc_id || x.last_error || "")];
    cells.forEach((text, i) => {
      const td = document.createElement("td"); td.textContent = text;
      if (i === 2) td.dataset.testid = "delivery-status";
      tr.append(td);
    });
    tbody.append(tr);
  });
  $("#d-deliveries").hidden = d.deliveries.length === 0;
  const ol = $("#d-timeline"); ol.textContent = "";
  d.timeline.forEach((e) => ol.append(eventLine(e)));
}

async function act(path) {
  const reason = $("#d-reason").value;
  await api(`/documents/${state.current.id}/${path}`, {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ reason }),
  });
  show(t("done"));
  $("#d-reason").value = "";
  await detail(state.current.id);
}

// The directory (GET /directory): a click adds an OrganId to the recipients field.
let dirTimer = null;
async function searchDirectory() {
  const q = $("#dir-q").value.trim();
  const data = await (await api(`/directory?limit=20&q=${encodeURIComponent(q)}`)).json();
  const list = $("#dir-results");
  list.replaceChildren();
  data.items.forEach((e) => {
    const li = document.createElement("li");
    const b = document.createElement("button");
    b.type = "button"; b.className = "link"; b.dataset.organId = e.organ_id;
    const via = e.route === "axis" ? t("via_axis") : e.route === "none" ? t("no_route") : t("via_direct");
    b.textContent = `${e.name || e.organ_id} (${e.organ_id}) · ${via}`;
    b.addEventListener("click", () => {
      const to = $("#send-form [name=to]");
      const ids = to.value.split(",").map((s) => s.trim()).filter(Boolean);
      if (!ids.includes(e.organ_id)) ids.push(e.organ_id);
      to.value = ids.join(", ");
    });
    li.append(b); list.append(li);
  });
}

async function send(form) {
  const f = new FormData(form);
  const meta = {
    to: f.get("to").split(",").map((s) => s.trim()).filter(Boolean),
    code: { number: f.get("number").trim(), notation: f.get("notation").trim() },
    subject: f.get("subject"), content: f.get("content") || "",
    priority: Number(f.get("priority") || 0),
  };
  if (f.get("due_date")) meta.due_date = f.get("due_date");
  if (f.get("signer")) meta.signer_info = { full_name: f.get("signer") };
  const body = new FormData();
  body.append("metadata", new Blob([JSON.stringify(meta)], { type: "application/json" }), "metadata.json");
  for (const file of form.querySelector("input[type=file]").files) body.append("file", file, file.name);
  // One key per filled-in form: pressing "send" twice never makes two documents.
  form.dataset.key = form.dataset.key || (crypto.randomUUID ? crypto.randomUUID() : String(Date.now()) + Math.random());
  const resp = await api("/documents", { method: "POST", body, headers: { "Idempotency-Key": form.dataset.key } });
  const result = await resp.json();
  delete form.dataset.key;
  form.reset();
  show(`${t("sentok")}: ${result.edxml_document_id}`);
  await detail(result.id);
}

document.addEventListener("DOMContentLoaded", () => {
  applyLang();
  $("#lang").addEventListener("click", async () => {
    state.lang = state.lang === "vi" ? "en" : "vi"; localStorage.setItem("docnode.lang", state.lang); applyLang();
    if (!state.token) return;
    if (state.view === "detail" && state.current) await detail(state.current.id); else await open(state.view);
    await banner();
  });
  $("#login-form").addEventListener("submit", (ev) => { ev.preventDefault(); login($("#token").value.trim()); });
  $("#logout").addEventListener("click", logout);
  document.querySelectorAll(".tabs button").forEach((b) => b.addEventListener("click", () => open(b.dataset.view).catch((e) => show(e.message, true))));
  document.querySelectorAll("form.filters").forEach((form) => form.addEventListener("submit", (ev) => {
    ev.preventDefault(); loadList(form.dataset.list, false).catch((e) => show(e.message, true));
  }));
  document.querySelectorAll(".more").forEach((b) => b.addEventListener("click", () => loadList(state.view, true).catch((e) => show(e.message, true))));
  $("#back").addEventListener("click", () => open(state.current && state.current.direction === "out" ? "outbox" : "inbox"));
  document.querySelectorAll("[data-action]").forEach((b) => b.addEventListener("click", () => act(`actions/${b.dataset.action}`).catch((e) => show(e.message, true))));
  document.querySelectorAll("[data-change]").forEach((b) => b.addEventListener("click", () => act(b.dataset.change).catch((e) => show(e.message, true))));
  $("#dir-q").addEventListener("input", () => {
    clearTimeout(dirTimer);
    dirTimer = setTimeout(() => searchDirectory().catch((e) => show(e.message, true)), 200);
  });
  $("#send-form").addEventListener("submit", (ev) => { ev.preventDefault(); send(ev.target).catch((e) => show(e.message, true)); });
  if (state.token) login(state.token);
});
