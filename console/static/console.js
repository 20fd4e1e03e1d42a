// The sandbox console page: plain ES module, no build step. Everything goes through the console's own /api.

const $ = (selector) => document.querySelector(selector);
const POLL_MS = 700;

async function api(path, options = {}) {
  const init = { headers: { "content-type": "application/json" }, ...options };
  if (init.body !== undefined && typeof init.body !== "string") init.body = JSON.stringify(init.body);
  const answer = await fetch(path, init);
  const body = await answer.json().catch(() => ({}));
  if (!answer.ok) throw new Error(body.detail || body.error || `HTTP ${answer.status}`);
  return body;
}

function element(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (name === "class") node.className = value;
    else if (name === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(name, value);
  }
  for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return node;
}

function say(target, text, error = false) {
  const line = $(target);
  line.textContent = text;
  line.classList.toggle("error", error);
}

function time(ms) {
  return new Date(ms).toLocaleTimeString();
}

// ---------------------------------------------------------------- consumer

const consumer = { channels: [], sent: [], inbox: [] };

function channelKind() {
  const found = consumer.channels.find((c) => c.channel_id === $("#channel").value);
  return found ? found.kind : "generic";
}

function consumerPath(suffix) {
  const number = encodeURIComponent($("#number").value.trim());
  return `/api/consumers/${number}/${suffix}?channel_id=${encodeURIComponent($("#channel").value)}`;
}

async function consumerDoes(body, shown) {
  try {
    const answer = await api(consumerPath("actions"), { method: "POST", body });
    const accepted = answer.bridge_status >= 200 && answer.bridge_status < 300;
    if (shown) consumer.sent.push({ ...shown, message_id: answer.message_id, at: Date.now(), status: accepted ? "sent" : "refused" });
    say("#consumer-status", `${body.type || "text"}: the channel bridge answered ${answer.bridge_status}`, !accepted);
    renderInbox();
  } catch (error) {
    say("#consumer-status", `${body.type || "text"}: ${error.message}`, true);
  }
}

function sampleImage() {
  const canvas = element("canvas", { width: 48, height: 48 });
  const draw = canvas.getContext("2d");
  draw.fillStyle = "#2b6cb0";
  draw.fillRect(0, 0, 48, 48);
  draw.fillStyle = "#fff";
  draw.beginPath();
  draw.arc(24, 24, 14, 0, 2 * Math.PI);
  draw.fill();
  return canvas.toDataURL("image/png").split(",")[1];
}

function latest(kind) {
  return consumer.inbox.filter((m) => m.type === kind).at(-1);
}

function renderInbox() {
  const statusOf = new Map();
  for (const message of consumer.inbox.filter((m) => m.type === "receipt")) {
    for (const id of message.receipt.message_ids || []) statusOf.set(id, message.receipt.status.toLowerCase());
  }
  const items = [
    ...consumer.sent.map((m) => ({ at: m.at, node: element("li", { class: "mine", dataset: { messageId: m.message_id || "" } },
      m.text, element("span", { class: "meta" }, `${time(m.at)} · ${statusOf.get(m.message_id) || m.status}`)) })),
    ...consumer.inbox.filter((m) => m.type === "text" || m.type === "notice").map((m) => ({
      at: m.received_at,
      node: element("li", { class: m.type === "notice" ? "notice" : "theirs", dataset: { messageId: m.message_id } },
        m.text, element("span", { class: "meta" }, m.type === "notice" ? m.notice : time(m.received_at))),
    })),
    ...consumer.inbox.filter((m) => m.type === "file").map((m) => ({
      at: m.received_at,
      node: element("li", { class: "theirs", dataset: { messageId: m.message_id } },
        `[file] ${m.file.caption || m.file.content_type}`,
        element("span", { class: "meta" }, `${time(m.received_at)} · download link valid about a minute`)),
    })),
  ].sort((a, b) => a.at - b.at);
  const list = $("#inbox");
  const atBottom = list.scrollTop + list.clientHeight >= list.scrollHeight - 4;
  list.replaceChildren(...items.map((item) => item.node));
  if (atBottom) list.scrollTop = list.scrollHeight;
  const typing = latest("typing");
  const lastText = latest("text");
  $("#agent-typing-state").hidden = !(typing && typing.typing && (!lastText || typing.received_at >= lastText.received_at));
  const twilio = channelKind() === "twilio";  // SMS carries texts and pictures only
  for (const id of ["#consumer-typing", "#consumer-read", "#consumer-close", "#consumer-survey"]) $(id).disabled = twilio;
}

async function pollInbox() {
  if ($("#number").value.trim()) {
    try {
      consumer.inbox = (await api(consumerPath("inbox"))).messages;
      renderInbox();
    } catch (error) {
      say("#consumer-status", `inbox: ${error.message}`, true);
    }
  }
  setTimeout(pollInbox, POLL_MS);
}

async function setUpConsumer() {
  consumer.channels = (await api("/api/channels")).channels;
  $("#channel").replaceChildren(...consumer.channels.map((c) =>
    element("option", { value: c.channel_id }, c.kind === "twilio" ? `${c.channel_id} (Twilio ${c.number})` : c.channel_id)));
  $("#number").value = `+1555${String(Math.floor(Math.random() * 1e7)).padStart(7, "0")}`;
  const restart = () => { consumer.sent = []; consumer.inbox = []; agent.pinned = false; renderInbox(); };
  $("#channel").addEventListener("change", restart);
  $("#number").addEventListener("change", restart);
  $("#consumer-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const text = $("#consumer-text").value.trim();
    if (!text) return;
    $("#consumer-text").value = "";
    consumerDoes({ type: "text", text }, { text });
  });
  $("#consumer-image").addEventListener("click", () => consumerDoes(
    { type: "file", file: { data_base64: sampleImage(), content_type: "image/png", caption: "a picture" } },
    { text: "[picture] a picture" }));
  $("#consumer-typing").addEventListener("click", () => consumerDoes({ type: "typing", typing: { state: "composing" } }));
  $("#consumer-read").addEventListener("click", () => consumerDoes({ type: "receipt", receipt: {
    status: "read", message_ids: consumer.inbox.filter((m) => m.type === "text").map((m) => m.message_id) } }));
  $("#consumer-close").addEventListener("click", () => consumerDoes({ type: "close" }));
  $("#consumer-survey").addEventListener("click", () => consumerDoes({ type: "survey", survey: {
    csat: Number($("#csat").value), fcr: $("#fcr").checked } }));
  pollInbox();
}

// ---------------------------------------------------------------- agent

// pinned: the person chose a conversation; until then the pane follows the consumer being played.
const agent = { conversations: [], selected: null, pinned: false };

const SAMPLE_CARD = {
  type: "vertical",
  elements: [
    { type: "text", text: "Your order A-4471" },
    { type: "button", title: "Track", click: { actions: [{ type: "link", uri: "https://track.example/A-4471" }] } },
    { type: "button", title: "Talk to us", click: { actions: [{ type: "publishText", text: "agent please" }] } },
  ],
};

function messagesOf(conversation) {
  return conversation.dialogs.flatMap((d) => d.events.map((e) => ({ ...e, dialogType: d.type }))).filter((e) =>
    e.event && (e.event.type === "ContentEvent" || e.event.type === "RichContentEvent"));
}

function describeEvent(event) {
  if (event.type === "RichContentEvent") {
    const texts = (event.content.elements || []).map((e) => e.text || e.title).filter(Boolean);
    return `[structured content] ${texts.join(" · ")}`;
  }
  if (event.contentType === "hosted/file") return `[file] ${event.message.caption || event.message.relativePath}`;
  const replies = ((event.quickReplies || {}).replies || []).map((r) => r.title).filter(Boolean);
  return replies.length ? `${event.message} [${replies.join(" · ")}]` : event.message;
}

function selected() {
  return agent.conversations.find((c) => c.conversation_id === agent.selected);
}

function renderConversations() {
  const rows = [...agent.conversations].reverse().map((c) => {
    const row = element("tr", { class: c.conversation_id === agent.selected ? "selected" : "", dataset: { conversationId: c.conversation_id, consumer: c.ext_consumer_id } },
      element("td", {}, c.ext_consumer_id),
      element("td", { class: `state-${c.state}` }, c.state),
      element("td", {}, c.skill_id || ""),
      element("td", {}, messagesOf(c).length));
    row.addEventListener("click", () => { agent.selected = c.conversation_id; agent.pinned = true; renderAgent(); });
    return row;
  });
  $("#conversations tbody").replaceChildren(...rows);
}

function renderTranscript(conversation) {
  const events = conversation.dialogs.flatMap((d) => d.events);
  const readSequences = new Set(events.filter((e) => e.event.type === "AcceptStatusEvent" && e.originatorMetadata.role === "CONSUMER"
    && e.event.status === "READ").flatMap((e) => e.event.sequenceList || []));
  const items = messagesOf(conversation).map((e) => {
    const fromConsumer = e.originatorMetadata.role === "CONSUMER";
    const seen = !fromConsumer && readSequences.has(e.sequence) ? " · read" : "";
    const survey = e.dialogType === "POST_SURVEY";
    const who = fromConsumer ? (survey ? "consumer · survey answer" : "consumer") : (survey ? "survey bot" : "agent");
    return element("li", { class: `${fromConsumer ? "theirs" : "mine"}${survey ? " survey" : ""}`, dataset: { sequence: e.sequence ?? "", dialog: e.dialogType } },
      describeEvent(e.event), element("span", { class: "meta" }, `${who} · #${e.sequence}${seen}`));
  });
  const list = $("#transcript");
  const atBottom = list.scrollTop + list.clientHeight >= list.scrollHeight - 4;
  list.replaceChildren(...items);
  if (atBottom) list.scrollTop = list.scrollHeight;
  const chatStates = events.filter((e) => e.event.type === "ChatStateEvent" && e.originatorMetadata.role === "CONSUMER");
  const lastState = chatStates.at(-1);
  const lastMessage = messagesOf(conversation).filter((e) => e.originatorMetadata.role === "CONSUMER").at(-1);
  $("#consumer-typing-state").hidden = !(lastState && lastState.event.chatState === "COMPOSING"
    && (!lastMessage || events.indexOf(lastState) > events.indexOf(lastMessage)));
}

function renderAgent() {
  renderConversations();
  const conversation = selected();
  $("#conversation").hidden = !conversation;
  if (!conversation) return;
  const surveyDialog = conversation.dialogs.find((d) => d.type === "POST_SURVEY");
  const survey = !surveyDialog ? "" : surveyDialog.state === "OPEN" ? " · survey open"
    : ` · survey ${(surveyDialog.closed_cause || "closed").toLowerCase()}`;
  const csat = conversation.csat ? ` · CSAT ${conversation.csat.csatRate}` : "";
  $("#conversation-meta").textContent =
    `${conversation.conversation_id} · state ${conversation.state}, stage ${conversation.stage}${survey} · skill ${conversation.skill_id}${csat}`;
  renderTranscript(conversation);
}

async function pollConversations() {
  try {
    agent.conversations = (await api("/api/conversations")).conversations;
    if (!agent.pinned || !selected()) {  // the played consumer's newest conversation, else the newest of all
      const played = `${$("#channel").value}:${$("#number").value.trim()}`;
      const mine = agent.conversations.filter((c) => c.ext_consumer_id === played);
      const pick = mine.at(-1) || agent.conversations.at(-1);
      agent.selected = pick ? pick.conversation_id : null;
      agent.pinned = false;
    }
    renderAgent();
  } catch (error) {
    say("#agent-status", `conversations: ${error.message}`, true);
  }
  setTimeout(pollConversations, POLL_MS);
}

async function agentDoes(action, body) {
  const conversation = selected();
  if (!conversation) return;
  try {
    await api(`/api/conversations/${conversation.conversation_id}/agent/${action}`, { method: "POST", body });
    say("#agent-status", `${action}: done`);
  } catch (error) {
    say("#agent-status", `${action}: ${error.message}`, true);
  }
}

function setUpAgent() {
  $("#agent-content").value = JSON.stringify(SAMPLE_CARD, null, 2);
  $("#agent-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const text = $("#agent-text").value.trim();
    if (!text) return;
    $("#agent-text").value = "";
    agentDoes("messages", { text });
  });
  $("#agent-send-content").addEventListener("click", () => {
    let content;
    try {
      content = JSON.parse($("#agent-content").value);
    } catch (error) {
      say("#agent-status", `structured content is not JSON: ${error.message}`, true);
      return;
    }
    agentDoes("messages", { content });
  });
  $("#agent-read").addEventListener("click", () => {
    const conversation = selected();
    if (!conversation) return;
    const sequences = messagesOf(conversation).filter((e) => e.originatorMetadata.role === "CONSUMER").map((e) => e.sequence);
    agentDoes("receipts", { status: "READ", sequences });
  });
  $("#agent-typing").addEventListener("click", () => agentDoes("typing", { state: "COMPOSING" }));
  $("#agent-transfer").addEventListener("click", () => agentDoes("transfer", { skill_id: $("#transfer-skill").value.trim() }));
  $("#agent-close").addEventListener("click", () => agentDoes("close", { by: "AGENT", survey: $("#close-survey").checked }));
  pollConversations();
}

// ---------------------------------------------------------------- flows

const flows = new Map();

function renderFlows() {
  const newest = [...flows.values()].sort((a, b) => b.started_ms - a.started_ms).slice(0, 200);
  $("#flows tbody").replaceChildren(...newest.map((flow) => element("tr", { dataset: { flowId: flow.id } },
    element("td", {}, flow.direction),
    element("td", {}, flow.kind),
    element("td", {}, ...flow.hops.map((hop) => element("span", { class: hop.stage.startsWith("dead-lettered") ? "hop failed" : "hop" },
      hop.stage, " ", element("span", { class: "where" },
        `${hop.topic ? `${hop.topic}[${hop.partition}]@${hop.offset} ` : ""}+${hop.latency_ms} ms`)))))));
}

function watchFlows() {
  const source = new EventSource("/api/flows");
  source.onmessage = (message) => {
    const flow = JSON.parse(message.data);
    flows.set(flow.id, flow);
    renderFlows();
  };
}

// ---------------------------------------------------------------- dead letters

const openHeaders = new Set();  // dead letters whose headers are shown: they stay open across refreshes

async function loadDeadLetters() {
  try {
    const letters = (await api("/api/dead-letters")).dead_letters;
    $("#dead-letters tbody").replaceChildren(...letters.map((letter) => {
      const key = `${letter.dead_letter_topic}[${letter.dead_letter_partition}]@${letter.dead_letter_offset}`;
      const replay = element("button", { class: "secondary" }, `Replay ${letter.source_topic}`);
      replay.addEventListener("click", () => replayDeadLetters(letter.source_topic));
      const headers = element("details", {}, element("summary", {}, "headers"),
        element("pre", {}, Object.entries(letter.headers).map(([k, v]) => `${k}: ${v}`).join("\n")));
      headers.open = openHeaders.has(key);
      headers.addEventListener("toggle", () => (headers.open ? openHeaders.add(key) : openHeaders.delete(key)));
      return element("tr", { dataset: { source: letter.source_topic, offset: letter.offset, deadLetter: key } },
        element("td", {}, `${letter.source_topic}[${letter.partition}]@${letter.offset}`),
        element("td", {}, letter.error_class, headers),
        element("td", {}, letter.reason),
        element("td", {}, letter.attempts),
        element("td", {}, new Date(letter.failed_at).toLocaleString()),
        element("td", { class: "replayed" }, letter.replayed ? "yes" : "no"),
        element("td", {}, replay));
    }));
    $("#dead-letter-count").textContent = letters.length ? `${letters.length} dead letters` : "no dead letters";
  } catch (error) {
    say("#dead-letter-status", `dead letters: ${error.message}`, true);
  }
}

async function watchDeadLetters() {
  await loadDeadLetters();
  setTimeout(watchDeadLetters, 4000);
}

async function replayDeadLetters(source) {
  try {
    const answer = await api("/api/dead-letters/replay", { method: "POST", body: { source } });
    await loadDeadLetters();
    say("#dead-letter-status", `replayed ${answer.replayed} dead letters of ${answer.source}`);
  } catch (error) {
    say("#dead-letter-status", `replay: ${error.message}`, true);
  }
}

// ---------------------------------------------------------------- start

setUpConsumer();
setUpAgent();
watchFlows();
$("#dead-letters-refresh").addEventListener("click", loadDeadLetters);
watchDeadLetters();
