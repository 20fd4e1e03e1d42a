// le-standin is a benchmark stand-in for LiveEngage, NOT the LiveEngage sandbox. `make bench`'s end-to-end
// stage runs it in place of `python -m emulators.liveengage serve` so that what it measures is the connector, not
// the Python sandbox (which spends 1.3-3.8 ms of CPU per event). It takes the same command line and environment
// as the sandbox's `serve` (options as flags, or LE_SANDBOX_<OPTION>; secrets from LE_SANDBOX_CLIENT_SECRET and
// LE_SANDBOX_ADMIN_TOKEN), so devstack can swap the command.
//
// What it copies from the sandbox (emulators/liveengage), on the paths the connector uses:
//   - Domain API: GET /api/account/{account}/service/baseURI.json?version=1.0 and .../service/{service}/baseURI.json,
//     this account and its --peer accounts (api.py all_domains, one_domain).
//   - Sentinel: POST /sentinel/api/account/{account}/app/token, client credentials in the query or the form body;
//     an HS256 AppJWT with aud/azp/scope/iss/iat/exp (api.py app_token, jwt.py).
//   - IdP: POST /api/account/{account}/consumer {"ext_consumer_id"} -> 201 {"token"}, a ConsumerJWS whose claims
//     carry lp_consumer_id = sha256(account:ext_consumer_id) (api.py consumer_token).
//   - Send API: POST .../messaging/consumer/conversation (SetUserProfile + ConsumerRequestConversation batch) and
//     .../conversation/send (ms.PublishEvent of ContentEvent text/plain, ChatStateEvent, AcceptStatusEvent,
//     RichContentEvent; cm.UpdateConversationField closing the conversation or the stage, and CSATRate), with the
//     same AppJWT (Authorization) and ConsumerJWS (X-LP-ON-BEHALF) checks and errorCodes 40001/40102-40105, the
//     same in-body answers and BAD_REQUEST refusals, and the 5,000-character limit (api.py).
//   - App Installation API: GET .../configuration/app-install/installations[/{appId}]?v=1.0 and PUT of one, with
//     the admin bearer token; a PUT registers the webhook endpoints and the retry policy (installations.py).
//   - Webhooks, as webhooks.py and store.py shape and sign them: cqm.ExConversationChangeNotification when a
//     conversation opens, is closed by the consumer or gets a CSAT; ms.MessagingEventNotification echoing every
//     event the consumer publishes. Compact JSON signed over exactly those bytes: x-liveperson-signature
//     sha1=<Base64 HMAC> by default (--signature-algorithm, --signature-encoding), x-liveperson-account-id,
//     x-liveperson-client-id and the endpoint's own headers; 200 or 201 counts as delivered. Retries: number-based
//     (max_retries, --retry-interval apart) or time-to-live (retention_time, backoff from --ttl-first-delay
//     doubling to 300 s, later events of the conversation's sender held back meanwhile).
//   - GET /livez, GET /sandbox/conversations[?ext_consumer_id=] and /sandbox/conversations/{id} in the shape of
//     console.py's summary; GET /standin/stats (this program's own: webhook delivery counts).
//
// Where it differs, for cheapness: webhooks go out through a bounded pool of sender goroutines with keep-alive
// connections, sharded by conversation (each conversation's notifications keep their order, a time-to-live retry
// holds back only its shard, not the whole app); no agent console, faults, file sharing (GenerateURLFor*File is
// refused), post-conversation surveys, token revocation, "older" notification shape, Send API log or delivery log.
// The sandbox, with its references to LivePerson's developer-center pages, remains the reference for behaviour:
// change it first, then this copy. Go's standard library only.
package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"hash"
	"hash/fnv"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unicode/utf8"
)

const (
	sendLimitChars     = 5000 // api.py SEND_LIMIT_CHARS, in UTF-16 code units of the body as received
	messaging          = "ms.MessagingEventNotification"
	conversationChange = "cqm.ExConversationChangeNotification"
	routedSkillID      = "1732549212" // api.py EmulatorConfig.routed_skill_id: where a skill -1 is routed
	maxTTLDelay        = 300 * time.Second
	webhookTimeout     = 5 * time.Second
	senderCount        = 8    // webhook sender goroutines (and keep-alive connections)
	senderQueue        = 4096 // notifications waiting per sender before the Send API answer waits too
	maxBodyBytes       = 1 << 20
)

var (
	services         = []string{"asyncMessagingEnt", "sentinel", "idp", "swift", "accountConfigReadWrite", "msgHist"}
	subscriptionKeys = []string{
		"ms.MessagingEventNotification.ContentEvent",
		"ms.MessagingEventNotification.RichContentEvent",
		"ms.MessagingEventNotification.AcceptStatusEvent",
		"ms.MessagingEventNotification.ChatStateEvent",
		"cqm.ExConversationChangeNotification",
	}
	chatStates     = map[string]bool{"ACTIVE": true, "INACTIVE": true, "GONE": true, "COMPOSING": true, "PAUSE": true}
	acceptStatuses = map[string]bool{"ACCEPT": true, "READ": true, "ACCESS": true, "NACK": true, "ACTION": true}
	csatStatuses   = map[string]bool{"FILLED": true, "PARTIALLY_FILLED": true, "SKIPPED": true}
)

// ---------------------------------------------------------------------------------------------------------------
// Command line: `serve` with the sandbox's options (emulators/liveengage/__main__.py).

type peerList map[string]string

func (p peerList) String() string { return "" }
func (p peerList) Set(value string) error {
	account, address, ok := strings.Cut(value, "=")
	if !ok {
		return errors.New("expected ACCOUNT=HOST:PORT")
	}
	p[account] = address
	return nil
}

type config struct {
	host, publicHost                         string
	port                                     int
	accountID, clientID, clientSecret, admin string
	webhookURL                               string
	webhookMaxRetries                        int
	retryInterval, ttlFirstDelay             time.Duration
	appJWTTTL                                int64
	peers                                    peerList
	signatureAlgorithm, signatureEncoding    string
}

func env(name, fallback string) string {
	if value, ok := os.LookupEnv("LE_SANDBOX_" + strings.ToUpper(name)); ok {
		return value
	}
	return fallback
}

func envInt(name string, fallback int) int {
	if value, err := strconv.Atoi(env(name, "")); err == nil {
		return value
	}
	return fallback
}

func envFloat(name string, fallback float64) float64 {
	if value, err := strconv.ParseFloat(env(name, ""), 64); err == nil {
		return value
	}
	return fallback
}

func seconds(value float64) time.Duration { return time.Duration(value * float64(time.Second)) }

func parseServe(args []string) (*config, error) {
	c := &config{peers: peerList{}}
	flags := flag.NewFlagSet("serve", flag.ContinueOnError)
	flags.StringVar(&c.host, "host", env("host", "127.0.0.1"), "address to listen on")
	flags.IntVar(&c.port, "port", envInt("port", 8090), "port to listen on")
	flags.StringVar(&c.publicHost, "public-host", env("public_host", ""), "host the Domain API gives out (default: --host)")
	flags.StringVar(&c.accountID, "account-id", env("account_id", ""), "LiveEngage account id")
	flags.StringVar(&c.clientID, "client-id", env("client_id", ""), "the app installation's client id")
	flags.StringVar(&c.clientSecret, "client-secret", env("client_secret", ""), "its client secret (LE_SANDBOX_CLIENT_SECRET)")
	flags.StringVar(&c.admin, "admin-token", env("admin_token", ""), "bearer token of the App Installation API (LE_SANDBOX_ADMIN_TOKEN)")
	flags.StringVar(&c.webhookURL, "webhook-url", env("webhook_url", ""), "pre-register this URL for every event type")
	flags.IntVar(&c.webhookMaxRetries, "webhook-max-retries", envInt("webhook_max_retries", 3), "max_retries of --webhook-url")
	retry := flags.Float64("retry-interval", envFloat("retry_interval", 30), "seconds between number-based webhook retries")
	ttl := flags.Float64("ttl-first-delay", envFloat("ttl_first_delay", 2), "first backoff of time-to-live webhook retries")
	flags.Int64Var(&c.appJWTTTL, "app-jwt-ttl", int64(envInt("app_jwt_ttl", 3600)), "AppJWT lifetime in seconds")
	flags.Var(c.peers, "peer", "ACCOUNT=HOST:PORT of another account's sandbox (repeatable)")
	flags.StringVar(&c.signatureAlgorithm, "signature-algorithm", env("signature_algorithm", "sha1"), "sha1 or sha256")
	flags.StringVar(&c.signatureEncoding, "signature-encoding", env("signature_encoding", "base64"), "base64 or hex")
	if err := flags.Parse(args); err != nil {
		return nil, err
	}
	c.retryInterval, c.ttlFirstDelay = seconds(*retry), seconds(*ttl)
	for name, value := range map[string]string{"--account-id": c.accountID, "--client-id": c.clientID,
		"--client-secret": c.clientSecret, "--admin-token": c.admin} {
		if value == "" {
			return nil, fmt.Errorf("%s (or its LE_SANDBOX_ variable) is required", name)
		}
	}
	if c.signatureAlgorithm != "sha1" && c.signatureAlgorithm != "sha256" {
		return nil, errors.New("--signature-algorithm must be sha1 or sha256")
	}
	if c.signatureEncoding != "base64" && c.signatureEncoding != "hex" {
		return nil, errors.New("--signature-encoding must be base64 or hex")
	}
	if c.publicHost == "" {
		c.publicHost = c.host
	}
	return c, nil
}

// ---------------------------------------------------------------------------------------------------------------
// JSON and small helpers.

// marshal is compact JSON with non-ASCII and <>& as they are (Python's ensure_ascii=False, Starlette's answers).
func marshal(value any) []byte {
	var buffer bytes.Buffer
	encoder := json.NewEncoder(&buffer)
	encoder.SetEscapeHTML(false)
	if err := encoder.Encode(value); err != nil {
		panic(err)
	}
	out := buffer.Bytes()
	return out[:len(out)-1]
}

func writeRaw(w http.ResponseWriter, status int, body []byte) {
	header := w.Header()
	header.Set("Content-Type", "application/json")
	header.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	w.Write(body)
}

func writeJSON(w http.ResponseWriter, status int, value any) { writeRaw(w, status, marshal(value)) }

type errorBody struct {
	Error  string `json:"error"`
	Detail string `json:"detail,omitempty"`
}

// jsonString is the value of a JSON string, ok false for anything else (absent, null, a number...).
func jsonString(raw json.RawMessage) (string, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '"' {
		return "", false
	}
	var value string
	if json.Unmarshal(raw, &value) != nil {
		return "", false
	}
	return value, true
}

func isObject(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) > 0 && raw[0] == '{'
}

// jsonInteger is a JSON number without fraction or exponent (Python's int, not bool or float).
func jsonInteger(raw json.RawMessage) (int64, bool) {
	value, err := strconv.ParseInt(string(bytes.TrimSpace(raw)), 10, 64)
	return value, err == nil
}

// truthy is Python's truth of a JSON value: not absent, null, false, 0, "", [] or {}.
func truthy(raw json.RawMessage) bool {
	switch string(bytes.TrimSpace(raw)) {
	case "", "null", "false", "0", `""`, "[]", "{}", "0.0":
		return false
	}
	compact := bytes.Buffer{}
	if json.Compact(&compact, raw) == nil {
		switch compact.String() {
		case "[]", "{}":
			return false
		}
	}
	return true
}

func nowMs() int64 { return time.Now().UnixMilli() }

func uuid4() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// utf16Units counts the body as the JVM counts a string (api.py _send: decoded with replacement, UTF-16).
func utf16Units(raw []byte) int {
	if len(raw) <= sendLimitChars {
		return len(raw) // never more units than bytes
	}
	units := 0
	for len(raw) > 0 {
		r, size := utf8.DecodeRune(raw)
		raw = raw[size:]
		if r > 0xFFFF {
			units += 2
		} else {
			units++
		}
	}
	return units
}

func readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err != nil {
		writeJSON(w, http.StatusRequestEntityTooLarge, errorBody{Error: "body too large or unreadable"})
		return nil, false
	}
	return body, true
}

// ---------------------------------------------------------------------------------------------------------------
// Tokens: HS256 JWTs as jwt.py signs them (LiveEngage signs RS256; connectors never verify).

type appClaims struct {
	Aud   string `json:"aud"`
	Azp   string `json:"azp"`
	Scope string `json:"scope"`
	Iss   string `json:"iss"`
	Iat   int64  `json:"iat"`
	Exp   int64  `json:"exp"`
}

type consumerClaims struct {
	AccountID     string `json:"account_id"`
	ExtConsumerID string `json:"ext_consumer_id"`
	LpConsumerID  string `json:"lp_consumer_id"`
	Gen           int    `json:"gen"`
}

func b64(data []byte) string { return base64.RawURLEncoding.EncodeToString(data) }

func signJWT(claims any, key []byte, kid string) string {
	header := b64([]byte(`{"kid":"` + kid + `","typ":"JWT","alg":"HS256"}`))
	signing := header + "." + b64(marshal(claims))
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(signing))
	return signing + "." + b64(mac.Sum(nil))
}

// verifyJWT decodes the claims of a token signed with key into claims; false for anything else.
func verifyJWT(token string, key []byte, claims any) bool {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return false
	}
	signature, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[2], "="))
	if err != nil {
		return false
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(parts[0] + "." + parts[1]))
	if !hmac.Equal(mac.Sum(nil), signature) {
		return false
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	return err == nil && json.Unmarshal(payload, claims) == nil
}

func lpConsumerID(accountID, extConsumerID string) string {
	sum := sha256.Sum256([]byte(accountID + ":" + extConsumerID))
	return hex.EncodeToString(sum[:])
}

// The Send API's 401 answers (api.py AuthError), by documented errorCode.
var authTitles = map[int][2]string{
	40001: {"Missing parameter", "Brand Id is missing"},
	40102: {"Invalid AppJWT", "AppJWT has expired or is invalid"},
	40103: {"Invalid ConsumerJWS", "ConsumerJWS is invalid"},
	40104: {"ConsumerJWS is missing", "X_ON_BEHALF_HEADER is not present"},
	40105: {"AppJWT is missing", "AUTHORIZATION header is not present"},
}

type authErrorBody struct {
	Kind string `json:"kind"`
	Code int    `json:"code"`
	Type string `json:"type"`
	Body struct {
		Title     string `json:"title"`
		Details   string `json:"details"`
		ErrorCode int    `json:"errorCode"`
	} `json:"body"`
}

var authAnswers = func() map[int][]byte {
	answers := map[int][]byte{}
	for code, text := range authTitles {
		body := authErrorBody{Kind: "resp", Code: 401, Type: ".ReqBody$ErrorResp"}
		body.Body.Title, body.Body.Details, body.Body.ErrorCode = text[0], text[1], code
		answers[code] = marshal(body)
	}
	return answers
}()

// ---------------------------------------------------------------------------------------------------------------
// Conversations (store.py): dialogs with sequenced events, and the notifications they produce.

type dialog struct {
	id, dialogType     string
	creationTs, metaTs int64
	state              string
	endTs              int64
	closedBy           string
	closedCause        *string
	nextSequence       int
	events             []json.RawMessage // each change as webhooks carry it, serialised once
}

type conversation struct {
	id, accountID, consumerID, extConsumerID, skillID string
	startTs, metaTs, endTs                            int64
	sdes, campaignInfo, csat                          json.RawMessage
	state, stage                                      string
	closeReason                                       *string
	dialogs                                           []*dialog
}

func (c *conversation) touch() int64 {
	c.metaTs = max(nowMs(), c.metaTs+1)
	return c.metaTs
}

func (c *conversation) close(reason, cause string) {
	ended := c.touch()
	if c.state == "OPEN" {
		c.closeReason = &reason
	}
	c.state, c.stage, c.endTs = "CLOSE", "CLOSE", ended
	for _, d := range c.dialogs {
		if d.state == "OPEN" {
			d.state, d.endTs, d.closedBy, d.metaTs, d.closedCause = "CLOSE", ended, reason, ended, &cause
		}
	}
}

type originator struct {
	ID   string `json:"id"`
	Role string `json:"role"`
}

type messagingChange struct {
	OriginatorID       string          `json:"originatorId"`
	OriginatorMetadata originator      `json:"originatorMetadata"`
	Event              json.RawMessage `json:"event"`
	DialogID           string          `json:"dialogId"`
	ConversationID     string          `json:"conversationId"`
	MessageAudience    string          `json:"messageAudience"`
	Sequence           *int            `json:"sequence,omitempty"`
	ServerTimestamp    *int64          `json:"serverTimestamp,omitempty"`
	Metadata           json.RawMessage `json:"metadata,omitempty"`
}

// publish appends the consumer's event to the dialog (Conversation.publish); the change and its sequence.
func (c *conversation) publish(d *dialog, event, metadata json.RawMessage, sequenced bool) (json.RawMessage, int) {
	change := messagingChange{OriginatorID: c.consumerID, OriginatorMetadata: originator{c.consumerID, "CONSUMER"},
		Event: event, DialogID: d.id, ConversationID: c.id, MessageAudience: "ALL"}
	sequence := 0
	if sequenced {
		sequence = d.nextSequence
		stamp := nowMs()
		change.Sequence, change.ServerTimestamp = &sequence, &stamp
		d.nextSequence++
	}
	if truthy(metadata) {
		change.Metadata = metadata
	}
	raw := json.RawMessage(marshal(change))
	d.events = append(d.events, raw)
	return raw, sequence
}

func messagingNotification(change json.RawMessage) []byte {
	out := make([]byte, 0, len(change)+96)
	out = append(out, `{"kind":"notification","type":"ms.MessagingEventNotification","body":{"changes":[`...)
	out = append(out, change...)
	return append(out, "]}}"...)
}

type participantDetail struct {
	ID    string `json:"id"`
	Role  string `json:"role"`
	State string `json:"state"`
}

type dialogDetails struct {
	DialogID             string              `json:"dialogId"`
	ParticipantsDetails  []participantDetail `json:"participantsDetails"`
	DialogType           string              `json:"dialogType"`
	ChannelType          string              `json:"channelType"`
	State                string              `json:"state"`
	CreationTs           int64               `json:"creationTs"`
	MetaDataLastUpdateTs int64               `json:"metaDataLastUpdateTs"`
	EndTs                *int64              `json:"endTs,omitempty"`
	ClosedBy             *string             `json:"closedBy,omitempty"`
	ClosedCause          *string             `json:"closedCause,omitempty"`
}

type ttr struct {
	TTRType string `json:"ttrType"`
	Value   int    `json:"value"`
}

type handlerDetails struct {
	AccountID string `json:"accountId"`
	SkillID   string `json:"skillId"`
}

type conversationDetails struct {
	SkillID              string          `json:"skillId"`
	Participants         []originator    `json:"participants"`
	Dialogs              []dialogDetails `json:"dialogs"`
	BrandID              string          `json:"brandId"`
	State                string          `json:"state"`
	Stage                string          `json:"stage"`
	StartTs              int64           `json:"startTs"`
	MetaDataLastUpdateTs int64           `json:"metaDataLastUpdateTs"`
	TTR                  ttr             `json:"ttr"`
	HandlerDetails       handlerDetails  `json:"conversationHandlerDetails"`
	CloseReason          *string         `json:"closeReason,omitempty"`
	EndTs                *int64          `json:"endTs,omitempty"`
	Csat                 json.RawMessage `json:"csat,omitempty"`
}

type changeResult struct {
	ConvID              string              `json:"convId"`
	EffectiveTTR        int64               `json:"effectiveTTR"`
	ConversationDetails conversationDetails `json:"conversationDetails"`
}

type conversationNotification struct {
	Kind string `json:"kind"`
	Type string `json:"type"`
	Body struct {
		SubscriptionID string `json:"subscriptionId"`
		Changes        []struct {
			Type   string       `json:"type"`
			Result changeResult `json:"result"`
		} `json:"changes"`
	} `json:"body"`
}

// changeNotification is cqm.ExConversationChangeNotification of the conversation's whole state
// (Conversation.change_result, conversation_notification; no agent nor survey here: the consumer only).
func (c *conversation) changeNotification(subscriptionID string) []byte {
	consumer := originator{c.consumerID, "CONSUMER"}
	details := conversationDetails{SkillID: c.skillID, Participants: []originator{consumer}, BrandID: c.accountID,
		State: c.state, Stage: c.stage, StartTs: c.startTs, MetaDataLastUpdateTs: c.metaTs,
		TTR: ttr{"NORMAL", 3600}, HandlerDetails: handlerDetails{c.accountID, c.skillID}}
	for _, d := range c.dialogs {
		dd := dialogDetails{DialogID: d.id, DialogType: d.dialogType, ChannelType: "MESSAGING", State: d.state,
			CreationTs: d.creationTs, MetaDataLastUpdateTs: d.metaTs,
			ParticipantsDetails: []participantDetail{{c.consumerID, "CONSUMER", "ACTIVE"}}}
		if d.state == "CLOSE" {
			endTs, closedBy := d.endTs, d.closedBy
			dd.EndTs, dd.ClosedBy = &endTs, &closedBy
			if d.closedCause != nil && *d.closedCause != "" {
				dd.ClosedCause = d.closedCause
			}
		}
		details.Dialogs = append(details.Dialogs, dd)
	}
	effective := c.startTs + 3600*1000
	if c.state == "CLOSE" {
		endTs := c.endTs
		details.CloseReason, details.EndTs, effective = c.closeReason, &endTs, -1
	}
	if len(c.csat) > 0 {
		details.Csat = c.csat
	}
	notification := conversationNotification{Kind: "notification", Type: conversationChange}
	notification.Body.SubscriptionID = subscriptionID
	notification.Body.Changes = append(notification.Body.Changes, struct {
		Type   string       `json:"type"`
		Result changeResult `json:"result"`
	}{"UPSERT", changeResult{c.id, effective, details}})
	return marshal(notification)
}

// The console's view of a conversation (console.py summary), for GET /sandbox/conversations.
type dialogSummary struct {
	DialogID    string            `json:"dialog_id"`
	Type        string            `json:"type"`
	State       string            `json:"state"`
	ClosedCause *string           `json:"closed_cause"`
	Events      []json.RawMessage `json:"events"`
}

type conversationSummary struct {
	ConversationID string          `json:"conversation_id"`
	ExtConsumerID  string          `json:"ext_consumer_id"`
	ConsumerID     string          `json:"consumer_id"`
	State          string          `json:"state"`
	Stage          string          `json:"stage"`
	CloseReason    *string         `json:"close_reason"`
	SkillID        string          `json:"skill_id"`
	AgentID        *string         `json:"agent_id"`
	Sdes           json.RawMessage `json:"sdes"`
	CampaignInfo   json.RawMessage `json:"campaign_info"`
	Csat           json.RawMessage `json:"csat"`
	Dialogs        []dialogSummary `json:"dialogs"`
}

// summary copies what the listing needs; called under the store's lock. Events are append-only and each is never
// written again, so the copied slices can be encoded after the lock is released.
func (c *conversation) summary() conversationSummary {
	s := conversationSummary{ConversationID: c.id, ExtConsumerID: c.extConsumerID, ConsumerID: c.consumerID,
		State: c.state, Stage: c.stage, CloseReason: c.closeReason, SkillID: c.skillID, Sdes: c.sdes,
		CampaignInfo: c.campaignInfo, Csat: c.csat}
	for _, d := range c.dialogs {
		events := d.events[:len(d.events):len(d.events)]
		if events == nil {
			events = []json.RawMessage{}
		}
		s.Dialogs = append(s.Dialogs, dialogSummary{d.id, d.dialogType, d.state, d.closedCause, events})
	}
	return s
}

type store struct {
	mu             sync.Mutex
	conversations  []*conversation
	byID           map[string]*conversation
	byDialog       map[string]*conversation
	openByConsumer map[string]*conversation // lp_consumer_id -> its open conversation
}

// ---------------------------------------------------------------------------------------------------------------
// Webhooks (webhooks.py): endpoints per event type, signed bodies, retries, delivered by a pool of senders.

type endpoint struct {
	url        string
	maxRetries int
	headers    [][2]string
}

type registration struct {
	endpoints map[string]endpoint
	retention time.Duration // 0: number-based retries only
}

type delivery struct {
	key     string
	body    []byte
	attempt int
	emitted time.Time
	shard   int
}

type dispatcher struct {
	accountID, clientID          string
	secret                       []byte
	algorithm, encoding          string
	newHash                      func() hash.Hash
	retryInterval, ttlFirstDelay time.Duration
	registered                   atomic.Pointer[registration]
	queues                       []chan delivery
	client                       *http.Client

	delivered, failedAttempts, retried, gaveUp, dropped, queued atomic.Int64
	statusMu                                                    sync.Mutex
	statuses                                                    map[string]int64
}

func newDispatcher(c *config) *dispatcher {
	d := &dispatcher{accountID: c.accountID, clientID: c.clientID, secret: []byte(c.clientSecret),
		algorithm: c.signatureAlgorithm, encoding: c.signatureEncoding, retryInterval: c.retryInterval,
		ttlFirstDelay: c.ttlFirstDelay, statuses: map[string]int64{}}
	d.newHash = sha1.New
	if c.signatureAlgorithm == "sha256" {
		d.newHash = sha256.New
	}
	d.registered.Store(&registration{endpoints: map[string]endpoint{}})
	transport := &http.Transport{Proxy: http.ProxyFromEnvironment, MaxIdleConns: senderCount * 2,
		MaxIdleConnsPerHost: senderCount * 2, IdleConnTimeout: 90 * time.Second, DisableCompression: true}
	d.client = &http.Client{Transport: transport, Timeout: webhookTimeout}
	for i := 0; i < senderCount; i++ {
		queue := make(chan delivery, senderQueue)
		d.queues = append(d.queues, queue)
		go d.send(queue)
	}
	return d
}

func (d *dispatcher) signature(body []byte) string {
	mac := hmac.New(d.newHash, d.secret)
	mac.Write(body)
	digest := mac.Sum(nil)
	if d.encoding == "hex" {
		return d.algorithm + "=" + hex.EncodeToString(digest)
	}
	return d.algorithm + "=" + base64.StdEncoding.EncodeToString(digest)
}

// emit queues a notification for its event type's endpoint, behind the earlier ones of its conversation; dropped
// when the type has no endpoint. Blocks when that sender's queue is full.
func (d *dispatcher) emit(conversationID, key string, body []byte) {
	if _, ok := d.registered.Load().endpoints[key]; !ok {
		d.dropped.Add(1)
		return
	}
	h := fnv.New32a()
	h.Write([]byte(conversationID))
	shard := int(h.Sum32() % uint32(len(d.queues)))
	d.queued.Add(1)
	d.queues[shard] <- delivery{key: key, body: body, attempt: 1, emitted: time.Now(), shard: shard}
}

func (d *dispatcher) send(queue chan delivery) {
	for job := range queue {
		d.queued.Add(-1)
		if retention := d.registered.Load().retention; retention > 0 {
			d.deliverWithinRetention(job, retention)
		} else {
			d.deliver(job)
		}
	}
}

// deliverWithinRetention retries in place with exponential backoff: later events of this sender wait.
func (d *dispatcher) deliverWithinRetention(job delivery, retention time.Duration) {
	delay := d.ttlFirstDelay
	for {
		ok, registered := d.attempt(job)
		if ok || !registered {
			return
		}
		if time.Since(job.emitted)+delay > retention {
			log.Printf("webhook %s: dropped after the retention time (%d attempts)", job.key, job.attempt)
			d.gaveUp.Add(1)
			return
		}
		d.retried.Add(1)
		time.Sleep(delay)
		delay, job.attempt = min(delay*2, maxTTLDelay), job.attempt+1
	}
}

// deliver tries once; a failure is retried after the retry interval while other events go on (order not kept).
func (d *dispatcher) deliver(job delivery) {
	ok, registered := d.attempt(job)
	if ok || !registered {
		return
	}
	target, found := d.registered.Load().endpoints[job.key]
	if found && job.attempt <= target.maxRetries {
		log.Printf("webhook %s failed; retry %d in %s", job.key, job.attempt, d.retryInterval)
		d.retried.Add(1)
		job.attempt++
		time.AfterFunc(d.retryInterval, func() {
			d.queued.Add(1)
			d.queues[job.shard] <- job
		})
		return
	}
	log.Printf("webhook %s failed; giving up after %d attempts", job.key, job.attempt)
	d.gaveUp.Add(1)
}

// attempt POSTs once: ok when answered 200 or 201; registered false when the type has no endpoint (not retried).
func (d *dispatcher) attempt(job delivery) (ok bool, registered bool) {
	target, found := d.registered.Load().endpoints[job.key]
	if !found {
		d.dropped.Add(1)
		return false, false
	}
	request, err := http.NewRequest(http.MethodPost, target.url, bytes.NewReader(job.body))
	status := "invalid URL"
	if err == nil {
		request.Header.Set("content-type", "application/json")
		request.Header.Set("x-liveperson-account-id", d.accountID)
		request.Header.Set("x-liveperson-client-id", d.clientID)
		request.Header.Set("x-liveperson-signature", d.signature(job.body))
		for _, header := range target.headers {
			request.Header.Set(header[0], header[1])
		}
		response, err := d.client.Do(request)
		if err != nil {
			status = "error"
		} else {
			io.Copy(io.Discard, response.Body)
			response.Body.Close()
			status = strconv.Itoa(response.StatusCode)
			ok = response.StatusCode == 200 || response.StatusCode == 201
		}
	}
	d.statusMu.Lock()
	d.statuses[status]++
	d.statusMu.Unlock()
	if ok {
		d.delivered.Add(1)
	} else {
		d.failedAttempts.Add(1)
	}
	return ok, true
}

// apply registers the installation's capabilities.webhooks (Installations._apply).
func (d *dispatcher) apply(webhooks map[string]any) {
	r := &registration{endpoints: map[string]endpoint{}}
	for _, key := range subscriptionKeys {
		value, ok := webhooks[key].(map[string]any)
		if !ok {
			continue
		}
		target := endpoint{}
		target.url, _ = value["endpoint"].(string)
		if retries, ok := value["max_retries"].(json.Number); ok {
			n, _ := retries.Int64()
			target.maxRetries = int(n)
		}
		if headers, ok := value["headers"].([]any); ok {
			for _, header := range headers {
				if h, ok := header.(map[string]any); ok {
					name, _ := h["header_name"].(string)
					value, _ := h["header_value"].(string)
					target.headers = append(target.headers, [2]string{name, value})
				}
			}
		}
		r.endpoints[key] = target
	}
	if retry, ok := webhooks["retry"].(map[string]any); ok {
		if retention, ok := retry["retention_time"].(json.Number); ok {
			value, _ := retention.Float64()
			r.retention = seconds(value)
		}
	}
	d.registered.Store(r)
}

func (d *dispatcher) registerAll(url string, maxRetries int) {
	r := &registration{endpoints: map[string]endpoint{}, retention: d.registered.Load().retention}
	for _, key := range subscriptionKeys {
		r.endpoints[key] = endpoint{url: url, maxRetries: maxRetries}
	}
	d.registered.Store(r)
}

// ---------------------------------------------------------------------------------------------------------------
// The stand-in's HTTP surface.

type standin struct {
	config         *config
	appJWTKey      []byte
	jwsKey         []byte
	subscriptionID string
	store          store
	webhooks       *dispatcher
	appTokens      sync.Map // token -> *appClaims, once verified
	consumerTokens sync.Map // token -> *consumerClaims, once verified

	installationMu sync.Mutex
	installation   map[string]any
}

func newStandin(c *config) *standin {
	s := &standin{config: c, appJWTKey: randomBytes(32), jwsKey: randomBytes(32),
		subscriptionID: hex.EncodeToString(randomBytes(16)), webhooks: newDispatcher(c)}
	s.store.byID, s.store.byDialog = map[string]*conversation{}, map[string]*conversation{}
	s.store.openByConsumer = map[string]*conversation{}
	s.installation = map[string]any{"id": c.clientID, "client_id": c.clientID, "client_name": "Sandbox connector",
		"enabled": true, "grant_types": []any{"client_credentials"}, "scope": "msg.consumer",
		"capabilities": map[string]any{"webhooks": map[string]any{}}}
	if c.webhookURL != "" {
		s.webhooks.registerAll(c.webhookURL, c.webhookMaxRetries)
	}
	return s
}

func (s *standin) routes() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /livez", func(w http.ResponseWriter, r *http.Request) {
		writeRaw(w, 200, []byte(`{"status":"alive"}`))
	})
	mux.HandleFunc("GET /api/account/{account}/service/baseURI.json", s.allDomains)
	mux.HandleFunc("GET /api/account/{account}/service/{service}/baseURI.json", s.oneDomain)
	mux.HandleFunc("POST /sentinel/api/account/{account}/app/token", s.appToken)
	mux.HandleFunc("POST /api/account/{account}/consumer", s.consumerToken)
	mux.HandleFunc("POST /api/account/{account}/messaging/consumer/conversation", s.conversation)
	mux.HandleFunc("POST /api/account/{account}/messaging/consumer/conversation/send", s.send)
	installations := "/api/account/{account}/configuration/app-install/installations"
	mux.HandleFunc("GET "+installations, s.listInstallations)
	mux.HandleFunc("GET "+installations+"/{app_id}", s.oneInstallation)
	mux.HandleFunc("PUT "+installations+"/{app_id}", s.oneInstallation)
	mux.HandleFunc("GET /sandbox/conversations", s.listConversations)
	mux.HandleFunc("GET /sandbox/conversations/{conversation_id}", s.getConversation)
	mux.HandleFunc("GET /standin/stats", s.stats)
	return mux
}

// Domain API

func (s *standin) baseURIOf(account string) (string, bool) {
	if account == s.config.accountID {
		return net.JoinHostPort(s.config.publicHost, strconv.Itoa(s.config.port)), true
	}
	peer, ok := s.config.peers[account]
	return peer, ok
}

type baseURI struct {
	Service string `json:"service"`
	Account string `json:"account"`
	BaseURI string `json:"baseURI"`
}

func (s *standin) allDomains(w http.ResponseWriter, r *http.Request) {
	account := r.PathValue("account")
	base, ok := s.baseURIOf(account)
	if !ok || r.URL.Query().Get("version") != "1.0" {
		writeJSON(w, 400, errorBody{Error: "unknown account or missing version=1.0"})
		return
	}
	uris := make([]baseURI, 0, len(services))
	for _, service := range services {
		uris = append(uris, baseURI{service, account, base})
	}
	writeJSON(w, 200, map[string]any{"baseURIs": uris})
}

func (s *standin) oneDomain(w http.ResponseWriter, r *http.Request) {
	account, service := r.PathValue("account"), r.PathValue("service")
	base, ok := s.baseURIOf(account)
	known := false
	for _, name := range services {
		known = known || name == service
	}
	if !ok || !known {
		writeJSON(w, 400, errorBody{Error: "unknown account or service"})
		return
	}
	writeJSON(w, 200, baseURI{service, account, base})
}

// Sentinel: client credentials in the query string or the form body (the query wins)

func (s *standin) appToken(w http.ResponseWriter, r *http.Request) {
	raw, ok := readBody(w, r)
	if !ok {
		return
	}
	params, _ := url.ParseQuery(string(raw))
	for name, values := range r.URL.Query() {
		params[name] = values
	}
	if params.Get("grant_type") != "client_credentials" {
		writeJSON(w, 400, errorBody{Error: "unsupported_grant_type"})
		return
	}
	c := s.config
	if r.PathValue("account") != c.accountID || params.Get("client_id") != c.clientID ||
		subtle.ConstantTimeCompare([]byte(params.Get("client_secret")), []byte(c.clientSecret)) != 1 {
		writeJSON(w, 401, errorBody{Error: "invalid_client"})
		return
	}
	issued := time.Now().Unix()
	claims := &appClaims{Aud: c.accountID, Azp: c.clientID, Scope: "msg.consumer", Iss: "Sentinel", Iat: issued,
		Exp: issued + c.appJWTTTL}
	token := signJWT(claims, s.appJWTKey, "appjwt-sandbox")
	s.appTokens.Store(token, claims)
	writeJSON(w, 200, map[string]string{"access_token": token, "token_type": "Bearer"})
}

// checkAppJWT is 0 for a valid AppJWT of the path's account, else the Send API's errorCode.
func (s *standin) checkAppJWT(r *http.Request) int {
	header := r.Header.Get("Authorization")
	if header == "" {
		return 40105
	}
	token := strings.TrimSpace(strings.TrimPrefix(header, "Bearer "))
	var claims *appClaims
	if cached, ok := s.appTokens.Load(token); ok {
		claims = cached.(*appClaims)
	} else {
		claims = &appClaims{}
		if !verifyJWT(token, s.appJWTKey, claims) {
			return 40102
		}
		s.appTokens.Store(token, claims)
	}
	if claims.Aud != r.PathValue("account") {
		return 40102
	}
	if claims.Iss != "Sentinel" {
		return 40001
	}
	if claims.Exp <= time.Now().Unix() {
		return 40102
	}
	return 0
}

// consumer is the ConsumerJWS's claims, or the Send API's errorCode.
func (s *standin) consumer(r *http.Request) (*consumerClaims, int) {
	token := r.Header.Get("X-LP-ON-BEHALF")
	if token == "" {
		return nil, 40104
	}
	var claims *consumerClaims
	if cached, ok := s.consumerTokens.Load(token); ok {
		claims = cached.(*consumerClaims)
	} else {
		claims = &consumerClaims{}
		if !verifyJWT(token, s.jwsKey, claims) {
			return nil, 40103
		}
		s.consumerTokens.Store(token, claims)
	}
	if claims.AccountID != r.PathValue("account") || claims.Gen != 0 {
		return nil, 40103
	}
	return claims, 0
}

// authorized checks both tokens of a Send API call, answering the 401 itself when one fails.
// authorizedBody: the Send API's two checks in order, the consumer's tokens, then the body; false once answered.
func (s *standin) authorizedBody(w http.ResponseWriter, r *http.Request) (*consumerClaims, []byte, bool) {
	consumer, ok := s.authorized(w, r)
	if !ok {
		return nil, nil, false
	}
	raw, ok := readBody(w, r)
	return consumer, raw, ok
}

func (s *standin) authorized(w http.ResponseWriter, r *http.Request) (*consumerClaims, bool) {
	if code := s.checkAppJWT(r); code != 0 {
		writeRaw(w, 401, authAnswers[code])
		return nil, false
	}
	claims, code := s.consumer(r)
	if code != 0 {
		writeRaw(w, 401, authAnswers[code])
		return nil, false
	}
	return claims, true
}

// IdP: ConsumerJWS keyed by the connector's own ext_consumer_id; never expires

func (s *standin) consumerToken(w http.ResponseWriter, r *http.Request) {
	if code := s.checkAppJWT(r); code != 0 {
		writeRaw(w, 401, authAnswers[code])
		return
	}
	raw, ok := readBody(w, r)
	if !ok {
		return
	}
	var body struct {
		ExtConsumerID json.RawMessage `json:"ext_consumer_id"`
	}
	json.Unmarshal(raw, &body)
	extID, isString := jsonString(body.ExtConsumerID)
	if !isString || extID == "" {
		writeJSON(w, 400, errorBody{Error: "ext_consumer_id is required"})
		return
	}
	account := s.config.accountID
	claims := &consumerClaims{AccountID: account, ExtConsumerID: extID, LpConsumerID: lpConsumerID(account, extID)}
	token := signJWT(claims, s.jwsKey, "jws-sandbox")
	s.consumerTokens.Store(token, claims)
	writeJSON(w, 201, map[string]string{"token": token})
}

// Send API requests and answers

type sendRequest struct {
	Kind     json.RawMessage `json:"kind"`
	ID       json.RawMessage `json:"id"`
	Type     json.RawMessage `json:"type"`
	Body     json.RawMessage `json:"body"`
	Metadata json.RawMessage `json:"metadata"`
	typeName string
}

// parseRequest reads one Send API request (api.py _is_request); the parsed fields come back even when it is not
// one, so a refusal can carry its id.
func parseRequest(raw []byte) (*sendRequest, bool) {
	request := &sendRequest{}
	if json.Unmarshal(raw, request) != nil {
		return nil, false
	}
	kind, _ := jsonString(request.Kind)
	typeName, isString := jsonString(request.Type)
	request.typeName = typeName
	idLength := -1
	if id, ok := jsonString(request.ID); ok {
		idLength = utf8.RuneCountInString(id)
	} else if n, ok := jsonInteger(request.ID); ok {
		idLength = len(strconv.FormatInt(n, 10))
	}
	return request, kind == "req" && idLength >= 1 && idLength <= 64 && isString && isObject(request.Body)
}

type msgBody struct {
	Msg string `json:"msg"`
}

// batchAnswer is an answer in a CONVERSATION batch, and any BAD_REQUEST ({"code", "body", "reqId"}).
type batchAnswer struct {
	Code  string          `json:"code"`
	Body  any             `json:"body"`
	ReqID json.RawMessage `json:"reqId"`
}

// sendAnswer is a SEND request's answer ({"reqId", "code", "body"}).
type sendAnswer struct {
	ReqID json.RawMessage `json:"reqId"`
	Code  string          `json:"code"`
	Body  any             `json:"body"`
}

func badRequest(requestID json.RawMessage, message string) batchAnswer {
	return batchAnswer{"BAD_REQUEST", msgBody{message}, requestID}
}

// outcome is what a Send API call answers, and the notification it makes (if any).
type outcome struct {
	status         int
	answer         []byte
	conversationID string
	key            string // the notification's subscription key
	notification   []byte
}

func refused(request *sendRequest, message string) outcome {
	var id json.RawMessage
	if request != nil {
		id = request.ID
	}
	return outcome{status: 400, answer: marshal(badRequest(id, message))}
}

func (s *standin) finish(w http.ResponseWriter, o outcome) {
	if o.notification != nil { // queued before the answer, as the sandbox does: a conversation's order holds
		s.webhooks.emit(o.conversationID, o.key, o.notification)
	}
	writeRaw(w, o.status, o.answer)
}

// Send API: CONVERSATION (batch)

func (s *standin) conversation(w http.ResponseWriter, r *http.Request) {
	consumer, raw, ok := s.authorizedBody(w, r)
	if !ok {
		return
	}
	s.finish(w, s.openConversation(raw, consumer))
}

func (s *standin) isOwnBrand(raw json.RawMessage) bool {
	brand, ok := jsonString(raw)
	return ok && brand == s.config.accountID
}

func (s *standin) openConversation(raw []byte, consumer *consumerClaims) outcome {
	var items []json.RawMessage
	problem := ""
	requests := []*sendRequest{}
	if json.Unmarshal(raw, &items) != nil || len(items) < 2 {
		problem = "Bad Request, the body must be an array of at least two requests"
	}
	for _, item := range items {
		request, ok := parseRequest(item)
		if !ok {
			problem = "Bad Request, the body must be an array of at least two requests"
			break
		}
		requests = append(requests, request)
	}
	var opening struct {
		BrandID      json.RawMessage `json:"brandId"`
		SkillID      json.RawMessage `json:"skillId"`
		CampaignInfo json.RawMessage `json:"campaignInfo"`
	}
	if problem == "" {
		if requests[0].typeName != "userprofile.SetUserProfile" ||
			requests[1].typeName != "cm.ConsumerRequestConversation" {
			problem = "Bad Request, expected userprofile.SetUserProfile then cm.ConsumerRequestConversation"
		} else if json.Unmarshal(requests[1].Body, &opening); !s.isOwnBrand(opening.BrandID) {
			problem = "Bad Request, brandId is missing or not this account"
		}
	}
	if problem != "" {
		return outcome{status: 400, answer: marshal(badRequest(nil, problem))}
	}
	profile, open := requests[0], requests[1]
	profileAnswer := batchAnswer{"OK", msgBody{"OK User Profile set successfully"}, profile.ID}
	sdes := json.RawMessage("[]")
	var profileBody struct {
		AuthenticatedData struct {
			LpSdes json.RawMessage `json:"lp_sdes"`
		} `json:"authenticatedData"`
	}
	if json.Unmarshal(profile.Body, &profileBody) == nil && len(profileBody.AuthenticatedData.LpSdes) > 0 {
		sdes = profileBody.AuthenticatedData.LpSdes
	}
	skill := "-1"
	if name, ok := jsonString(opening.SkillID); ok {
		skill = name
	} else if len(opening.SkillID) > 0 {
		skill = string(bytes.TrimSpace(opening.SkillID))
	}
	if skill == "-1" {
		skill = routedSkillID
	}
	campaign := opening.CampaignInfo
	if string(bytes.TrimSpace(campaign)) == "null" {
		campaign = nil
	}

	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	if s.store.openByConsumer[consumer.LpConsumerID] != nil {
		message := "Consumer request conversation failed: User " + consumer.LpConsumerID +
			" already has open conversation. Can't open another one."
		return outcome{status: 400, answer: marshal([]batchAnswer{profileAnswer, badRequest(open.ID, message)})}
	}
	started := nowMs()
	id := uuid4()
	c := &conversation{id: id, accountID: s.config.accountID, consumerID: consumer.LpConsumerID,
		extConsumerID: consumer.ExtConsumerID, skillID: skill, startTs: started, metaTs: started, sdes: sdes,
		campaignInfo: campaign, state: "OPEN", stage: "OPEN",
		dialogs: []*dialog{{id: id, dialogType: "MAIN", creationTs: started, metaTs: started, state: "OPEN"}}}
	s.store.conversations = append(s.store.conversations, c)
	s.store.byID[id], s.store.byDialog[id], s.store.openByConsumer[c.consumerID] = c, c, c
	opened := batchAnswer{"OK", map[string]string{"conversationId": id}, open.ID}
	return outcome{status: 200, answer: marshal([]batchAnswer{profileAnswer, opened}), conversationID: id,
		key: conversationChange, notification: c.changeNotification(s.subscriptionID)}
}

// Send API: SEND (one request)

func (s *standin) send(w http.ResponseWriter, r *http.Request) {
	consumer, raw, ok := s.authorizedBody(w, r)
	if !ok {
		return
	}
	request, isRequest := parseRequest(raw)
	switch {
	case utf16Units(raw) > sendLimitChars:
		s.finish(w, refused(request, "Bad Request"))
	case !isRequest:
		s.finish(w, refused(request, "Bad Request, malformed request"))
	case request.typeName == "ms.PublishEvent":
		s.finish(w, s.publish(request, consumer))
	case request.typeName == "cm.UpdateConversationField":
		s.finish(w, s.updateConversation(request, consumer))
	case request.typeName == "ms.GenerateURLForUploadFile" || request.typeName == "ms.GenerateURLForDownloadFile":
		s.finish(w, refused(request, "Bad Request, file sharing is not played by the benchmark stand-in"))
	default:
		name := []rune(request.typeName)
		s.finish(w, refused(request, "Bad Request, unsupported type "+string(name[:min(len(name), 64)])))
	}
}

type eventFields struct {
	Type         json.RawMessage `json:"type"`
	ContentType  json.RawMessage `json:"contentType"`
	Message      json.RawMessage `json:"message"`
	ChatState    json.RawMessage `json:"chatState"`
	Status       json.RawMessage `json:"status"`
	SequenceList json.RawMessage `json:"sequenceList"`
	Content      json.RawMessage `json:"content"`
}

// eventProblem is api.py _event_problem: "" for an event LiveEngage takes; its type; whether it is a hosted file.
func eventProblem(raw json.RawMessage) (problem, kind string, hostedFile bool) {
	var event eventFields
	if !isObject(raw) || json.Unmarshal(raw, &event) != nil {
		return "event is missing", "", false
	}
	kind, _ = jsonString(event.Type)
	switch kind {
	case "ContentEvent":
		contentType, _ := jsonString(event.ContentType)
		if message, ok := jsonString(event.Message); contentType == "text/plain" && ok && message != "" {
			return "", kind, false
		}
		if contentType == "hosted/file" && isObject(event.Message) {
			return "", kind, true
		}
		return "ContentEvent needs contentType text/plain with a message, or hosted/file", kind, false
	case "ChatStateEvent":
		if state, _ := jsonString(event.ChatState); chatStates[state] {
			return "", kind, false
		}
		return "unknown chatState", kind, false
	case "AcceptStatusEvent":
		status, _ := jsonString(event.Status)
		var sequences []json.RawMessage
		if acceptStatuses[status] && json.Unmarshal(event.SequenceList, &sequences) == nil && len(sequences) > 0 {
			return "", kind, false
		}
		return "AcceptStatusEvent needs a status and a sequenceList", kind, false
	case "RichContentEvent":
		if isObject(event.Content) {
			return "", kind, false
		}
		return "RichContentEvent needs content", kind, false
	}
	shown := []rune(kind)
	if _, ok := jsonString(event.Type); !ok {
		shown = []rune("None")
		if len(event.Type) > 0 && string(event.Type) != "null" {
			shown = []rune(string(event.Type))
		}
	}
	return "unknown event type " + string(shown[:min(len(shown), 64)]), kind, false
}

func (s *standin) publish(request *sendRequest, consumer *consumerClaims) outcome {
	var body struct {
		DialogID json.RawMessage `json:"dialogId"`
		Event    json.RawMessage `json:"event"`
	}
	json.Unmarshal(request.Body, &body)
	dialogID, _ := jsonString(body.DialogID)
	problem, kind, hostedFile := eventProblem(body.Event)
	if problem == "" && hostedFile {
		problem = "hosted/file relativePath was not uploaded" // nothing is ever uploaded here
	}
	var event bytes.Buffer
	if problem == "" && json.Compact(&event, body.Event) != nil {
		problem = "event is missing"
	}

	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	c := s.store.byDialog[dialogID]
	if c == nil {
		return refused(request, "Bad Request, unknown dialogId")
	}
	if c.consumerID != consumer.LpConsumerID {
		return outcome{status: 401, answer: authAnswers[40103]}
	}
	var d *dialog
	for _, candidate := range c.dialogs {
		if candidate.id == dialogID {
			d = candidate
		}
	}
	if c.stage == "CLOSE" || d.state == "CLOSE" {
		return refused(request, "Bad Request, Conversation is close")
	}
	if problem != "" {
		return refused(request, "Bad Request, "+problem)
	}
	change, sequence := c.publish(d, event.Bytes(), request.Metadata, kind != "ChatStateEvent")
	answer := sendAnswer{request.ID, "OK", map[string]int{"sequence": sequence}}
	// LiveEngage echoes the consumer's own events.
	return outcome{status: 200, answer: marshal(answer), conversationID: c.id, key: messaging + "." + kind,
		notification: messagingNotification(change)}
}

func (s *standin) updateConversation(request *sendRequest, consumer *consumerClaims) outcome {
	var body struct {
		ConversationID    json.RawMessage `json:"conversationId"`
		ConversationField json.RawMessage `json:"conversationField"`
	}
	json.Unmarshal(request.Body, &body)
	conversationID, _ := jsonString(body.ConversationID)
	var fields []json.RawMessage
	if trimmed := bytes.TrimSpace(body.ConversationField); len(trimmed) > 0 && trimmed[0] == '[' {
		json.Unmarshal(trimmed, &fields)
	} else {
		fields = []json.RawMessage{body.ConversationField}
	}

	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	c := s.store.byID[conversationID]
	if c == nil {
		return refused(request, "Bad Request, unknown conversationId")
	}
	if c.consumerID != consumer.LpConsumerID {
		return outcome{status: 401, answer: authAnswers[40103]}
	}
	for _, raw := range fields {
		var change map[string]json.RawMessage
		if !isObject(raw) || json.Unmarshal(raw, &change) != nil {
			return refused(request, "Bad Request, conversationField")
		}
		field, _ := jsonString(change["field"])
		state, _ := jsonString(change["conversationState"])
		if (field == "ConversationStateField" || field == "Stage") && state == "CLOSE" {
			// No survey dialog here: the conversation's state and stage close together.
			if c.stage == "CLOSE" || (field == "ConversationStateField" && c.state == "CLOSE") {
				return refused(request, "Bad Request, Conversation is close")
			}
			c.close("CONSUMER", "Closed by consumer")
			delete(s.store.openByConsumer, c.consumerID)
			answer := sendAnswer{request.ID, "OK", msgBody{"OK Conversation resolved successfully"}}
			return outcome{status: 200, answer: marshal(answer), conversationID: c.id, key: conversationChange,
				notification: c.changeNotification(s.subscriptionID)}
		}
		if field == "CSATRate" {
			if problem := csatProblem(change); problem != "" {
				return refused(request, "Bad Request, "+problem)
			}
			c.csat = csatOf(change)
			c.touch()
			answer := sendAnswer{request.ID, "OK", msgBody{"OK CSAT submitted"}}
			return outcome{status: 200, answer: marshal(answer), conversationID: c.id, key: conversationChange,
				notification: c.changeNotification(s.subscriptionID)}
		}
	}
	return refused(request, "Bad Request, unsupported conversationField")
}

func csatProblem(change map[string]json.RawMessage) string {
	if rate, ok := jsonInteger(change["csatRate"]); !ok || rate < 1 || rate > 5 {
		return "csatRate must be an integer from 1 to 5"
	}
	if fcr, present := change["csatResolutionConfirmation"]; present {
		switch string(bytes.TrimSpace(fcr)) {
		case "null", "true", "false":
		default:
			return "csatResolutionConfirmation must be a boolean"
		}
	}
	if status, _ := jsonString(change["status"]); !csatStatuses[status] {
		return "status must be FILLED, PARTIALLY_FILLED or SKIPPED"
	}
	return ""
}

// csatOf keeps csatRate, csatResolutionConfirmation and status, in that order, as given.
func csatOf(change map[string]json.RawMessage) json.RawMessage {
	var out bytes.Buffer
	out.WriteByte('{')
	for _, key := range []string{"csatRate", "csatResolutionConfirmation", "status"} {
		if value, ok := change[key]; ok {
			if out.Len() > 1 {
				out.WriteByte(',')
			}
			out.WriteString(`"` + key + `":`)
			json.Compact(&out, value)
		}
	}
	out.WriteByte('}')
	return out.Bytes()
}

// App Installation API

func (s *standin) installationRefusal(w http.ResponseWriter, r *http.Request) bool {
	token := strings.TrimSpace(strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "))
	if subtle.ConstantTimeCompare([]byte(token), []byte(s.config.admin)) != 1 {
		writeJSON(w, 401, errorBody{Error: "unauthorized"})
		return true
	}
	if r.PathValue("account") != s.config.accountID || r.URL.Query().Get("v") != "1.0" {
		writeJSON(w, 400, errorBody{Error: "unknown account or missing v=1.0"})
		return true
	}
	if appID := r.PathValue("app_id"); appID != "" && appID != s.config.clientID {
		writeJSON(w, 404, errorBody{Error: "no such app installation"})
		return true
	}
	return false
}

func (s *standin) listInstallations(w http.ResponseWriter, r *http.Request) {
	if s.installationRefusal(w, r) {
		return
	}
	s.installationMu.Lock()
	defer s.installationMu.Unlock()
	writeJSON(w, 200, []any{s.installation})
}

func (s *standin) oneInstallation(w http.ResponseWriter, r *http.Request) {
	if s.installationRefusal(w, r) {
		return
	}
	s.installationMu.Lock()
	defer s.installationMu.Unlock()
	if r.Method == http.MethodPut {
		raw, ok := readBody(w, r)
		if !ok {
			return
		}
		var document any
		decoder := json.NewDecoder(bytes.NewReader(raw))
		decoder.UseNumber()
		if decoder.Decode(&document) != nil {
			document = nil
		}
		if problem := installationProblem(document); problem != "" {
			writeJSON(w, 400, errorBody{Error: "bad_request", Detail: problem})
			return
		}
		installation := document.(map[string]any)
		installation["id"], installation["client_id"] = s.config.clientID, s.config.clientID
		s.installation = installation
		webhooks, _ := installation["capabilities"].(map[string]any)["webhooks"].(map[string]any)
		s.webhooks.apply(webhooks)
	}
	writeJSON(w, 200, s.installation)
}

// installationProblem is installations.py _problem.
func installationProblem(document any) string {
	object, ok := document.(map[string]any)
	var capabilities map[string]any
	if ok {
		capabilities, ok = object["capabilities"].(map[string]any)
	}
	if !ok {
		return "an installation object with capabilities is required"
	}
	value, present := capabilities["webhooks"]
	if !present {
		return ""
	}
	webhooks, ok := value.(map[string]any)
	if !ok {
		return "capabilities.webhooks must be an object"
	}
	keys := make([]string, 0, len(webhooks))
	for key := range webhooks {
		keys = append(keys, key)
	}
	sort.Strings(keys)
	for _, key := range keys {
		entry, isObject := webhooks[key].(map[string]any)
		if key == "retry" {
			retention, ok := entry["retention_time"].(json.Number)
			seconds, err := retention.Int64()
			if !ok || err != nil || seconds < 2 || seconds > 259200 {
				return "retry.retention_time must be 2 to 259200 seconds"
			}
			continue
		}
		known := false
		for _, name := range subscriptionKeys {
			known = known || name == key
		}
		if !known {
			shown := []rune(key)
			return "unknown webhook event type " + string(shown[:min(len(shown), 80)])
		}
		target, _ := entry["endpoint"].(string)
		if !isObject || !(strings.HasPrefix(target, "https://") || strings.HasPrefix(target, "http://")) {
			return key + ".endpoint must be a URL"
		}
		if raw, present := entry["max_retries"]; present {
			number, ok := raw.(json.Number)
			retries, err := number.Int64()
			if !ok || err != nil || retries < 0 || retries > 5 {
				return key + ".max_retries must be 0 to 5"
			}
		}
	}
	return ""
}

// Inspection: the conversations as the sandbox's console lists them, and this program's webhook counts

func (s *standin) listConversations(w http.ResponseWriter, r *http.Request) {
	query := r.URL.Query()
	extID, filtered := query.Get("ext_consumer_id"), query.Has("ext_consumer_id")
	s.store.mu.Lock()
	found := make([]conversationSummary, 0, len(s.store.conversations))
	for _, c := range s.store.conversations {
		if !filtered || c.extConsumerID == extID {
			found = append(found, c.summary())
		}
	}
	s.store.mu.Unlock()
	writeJSON(w, 200, map[string]any{"conversations": found})
}

func (s *standin) getConversation(w http.ResponseWriter, r *http.Request) {
	s.store.mu.Lock()
	c := s.store.byID[r.PathValue("conversation_id")]
	var found conversationSummary
	if c != nil {
		found = c.summary()
	}
	s.store.mu.Unlock()
	if c == nil {
		writeJSON(w, 404, errorBody{Error: "not_found", Detail: "no such conversation"})
		return
	}
	writeJSON(w, 200, found)
}

func (s *standin) stats(w http.ResponseWriter, r *http.Request) {
	d := s.webhooks
	d.statusMu.Lock()
	statuses := map[string]int64{}
	for status, count := range d.statuses {
		statuses[status] = count
	}
	d.statusMu.Unlock()
	s.store.mu.Lock()
	conversations := len(s.store.conversations)
	s.store.mu.Unlock()
	writeJSON(w, 200, map[string]any{"conversations": conversations, "webhooks": map[string]any{
		"delivered": d.delivered.Load(), "failed_attempts": d.failedAttempts.Load(), "retried": d.retried.Load(),
		"gave_up": d.gaveUp.Load(), "dropped_unregistered": d.dropped.Load(), "queued": d.queued.Load(),
		"statuses": statuses}})
}

func main() {
	log.SetFlags(log.LstdFlags | log.Lmicroseconds)
	log.SetPrefix("le-standin ")
	if len(os.Args) < 2 || os.Args[1] != "serve" {
		fmt.Fprintln(os.Stderr, "usage: le-standin serve --port P --account-id A --client-id C [options] "+
			"(the options of `python -m emulators.liveengage serve`)")
		os.Exit(2)
	}
	c, err := parseServe(os.Args[2:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "le-standin:", err)
		os.Exit(2)
	}
	address := net.JoinHostPort(c.host, strconv.Itoa(c.port))
	listener, err := net.Listen("tcp", address)
	if err != nil {
		log.Fatal(err)
	}
	server := &http.Server{Handler: newStandin(c).routes(), ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout: 120 * time.Second}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-stop
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		server.Shutdown(ctx)
	}()
	log.Printf("LiveEngage stand-in for account %s on http://%s (webhooks: %d senders)", c.accountID, address,
		senderCount)
	if err := server.Serve(listener); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
}
