//! Calls a page makes to "WhatsApp's servers" over its WebSocket (`{t:"rpc", id, m, a}`), each
//! answered with `{t:"res", id, ok}` or `{t:"res", id, err:{code, message}}`, or never (a hung send).

use super::messages::{self, decode_b64, digits};
use super::*;
use crate::error::SimError;
use serde_json::Map;

type RpcResult = Result<Value, (String, String)>;

fn err(code: &str, message: impl Into<String>) -> (String, String) {
    (code.to_string(), message.into())
}

impl From<SimError> for (String, String) {
    fn from(e: SimError) -> Self {
        let code = match &e {
            SimError::NotFound("MESSAGE_NOT_FOUND", _) => "msg_not_found".to_string(),
            SimError::Conflict("NOT_EDITABLE", _) => "edit_message_error".to_string(),
            other => other.code().to_ascii_lowercase(),
        };
        (code, e.to_string())
    }
}

impl Shared {
    /// Run one call from a page and answer it on the page's own connection.
    pub fn rpc(&self, page_id: &str, req: u64, method: &str, args: Value) {
        let outcome = match method {
            "link_code" => self.rpc_link_code(page_id, &args),
            "link_cancel" => {
                self.cancel_link_code(page_id);
                Ok(json!(true))
            }
            "refresh_qr" => Ok(json!(self.start_qr_cycle(page_id))),
            "send" => return self.rpc_send(page_id, req, args),
            _ => self.lock().rpc_linked(page_id, method, &args),
        };
        self.reply(page_id, req, outcome);
    }

    fn reply(&self, page_id: &str, req: u64, outcome: RpcResult) {
        let frame = match outcome {
            Ok(v) => json!({"t": "res", "id": req, "ok": v}),
            Err((code, message)) => {
                json!({"t": "res", "id": req, "err": {"code": code, "message": message}})
            }
        };
        self.lock().send_page(page_id, &frame);
    }

    fn rpc_link_code(&self, page_id: &str, args: &Value) -> RpcResult {
        let phone = args["phone"].as_str().and_then(digits).ok_or_else(|| {
            err("send_the_phone_number_to_connect", "send the phone number to connect")
        })?;
        self.new_link_code(page_id, &phone).map(|c| json!(c))
    }

    /// A send: faults first, then store, answer, and only then route (so the page sees its
    /// send resolve before the delivery ack).
    fn rpc_send(&self, page_id: &str, req: u64, args: Value) {
        let mut w = self.lock();
        if w.faults.send_hang {
            return;
        }
        let built = w.build_sent(page_id, &args);
        let m = match built {
            Ok(m) => m,
            Err(e) => {
                drop(w);
                return self.reply(page_id, req, Err(e));
            }
        };
        if let Some(old) = w.find_msg(&m.id).filter(|o| o.sender == m.sender) {
            // A retry with the same messageId: answer as the first time, deliver nothing twice.
            let frame =
                json!({"t": "res", "id": req, "ok": {"t": old.t, "ack": old.ack, "msg": old}});
            w.send_page(page_id, &frame);
            return;
        }
        if let Some(result) = w.faults.send_failure.clone() {
            // The server refused it: a failed send result, ack -1, nothing stored or delivered.
            let frame = json!({"t": "res", "id": req, "ok": {"t": m.t, "ack": -1, "failed": result, "msg": m}});
            w.send_page(page_id, &frame);
            return;
        }
        if w.faults.send_unacked {
            w.unacked.entry(page_id.to_string()).or_default().push(m.id.clone());
        } else {
            w.send_page(
                page_id,
                &json!({"t": "res", "id": req, "ok": {"t": m.t, "ack": m.ack, "msg": m}}),
            );
        }
        w.route(m, Some(page_id));
    }
}

impl World {
    fn me(&self, page_id: &str) -> Result<(String, String), (String, String)> {
        let device = self
            .pages
            .get(page_id)
            .and_then(|p| p.device.clone())
            .ok_or_else(|| err("not_authenticated", "this page is not logged in"))?;
        let phone = self
            .devices
            .get(&device)
            .map(|d| d.phone.clone())
            .ok_or_else(|| err("not_authenticated", "this device was unlinked"))?;
        Ok((phone, device))
    }

    fn build_sent(&mut self, page_id: &str, args: &Value) -> Result<Msg, (String, String)> {
        let (phone, _) = self.me(page_id)?;
        if let Some(code) = self.faults.send_error.clone() {
            return Err(err(&code, format!("wa-sim fault: send fails with {code}")));
        }
        let spec = &args["msg"];
        let asked = spec["chat"].as_str().unwrap_or_default().to_string();
        let chat = self.check_chat(&asked)?;
        let mut extra: Map<String, Value> = spec["extra"].as_object().cloned().unwrap_or_default();
        extra.remove("id");
        if asked != chat {
            extra.insert("chatWid".into(), json!(asked));
        }
        let mut m = Msg {
            id: spec["id"]
                .as_str()
                .filter(|s| !s.is_empty())
                .map(String::from)
                .unwrap_or_else(|| random_hex_upper(20)),
            sender: phone.clone(),
            chat,
            kind: spec["type"].as_str().unwrap_or("chat").to_string(),
            body: spec["body"].as_str().unwrap_or_default().to_string(),
            t: now_s(),
            ack: 1,
            notify_name: self.account(&phone).pushname.clone(),
            at_ms: 0,
            extra,
        };
        if let Some(src) = args["forward_of"].as_str() {
            // A forward of a media message shares the original's file.
            if let Some(media) = self.media.get(messages::raw_id(src)) {
                let copy = Media { mimetype: media.mimetype.clone(), bytes: media.bytes.clone() };
                self.media.insert(m.id.clone(), copy);
            }
        }
        if let Some(media) = args.get("media").filter(|v| v.is_object()) {
            let (mime, bytes) = decode_b64(media["data"].as_str().unwrap_or_default())
                .ok_or_else(|| err("invalid_data_url", "the file is not valid base64"))?;
            let mimetype = media["mimetype"]
                .as_str()
                .map(String::from)
                .or(mime)
                .unwrap_or_else(|| "application/octet-stream".into());
            if bytes.len() > self.cfg.max_media_bytes {
                return Err(err(
                    "file_too_large",
                    format!("file of {} bytes exceeds {}", bytes.len(), self.cfg.max_media_bytes),
                ));
            }
            let filename = media["filename"].as_str().map(String::from);
            let caption = media["caption"].as_str().map(String::from);
            self.attach_media(&mut m, mimetype, bytes, filename, caption);
        }
        Ok(m)
    }

    /// Check where a send goes; returns the chat as the server stores it (`<phone>@c.us` for
    /// a `<lid>@lid` chat).
    fn check_chat(&self, chat: &str) -> Result<String, (String, String)> {
        if chat.ends_with("@g.us") {
            return match self.groups.contains_key(chat) {
                true => Ok(chat.to_string()),
                false => Err(err("chat_not_found", format!("chat {chat} not found"))),
            };
        }
        let phone = match chat.strip_suffix("@lid") {
            Some(lid) => self
                .lids
                .get(lid)
                .cloned()
                .ok_or_else(|| err("wid_not_found", format!("{chat} is not known")))?,
            None => chat
                .strip_suffix("@c.us")
                .and_then(digits)
                .ok_or_else(|| err("invalid_wid", format!("invalid chat id {chat}")))?,
        };
        if self.missing.contains(&phone) {
            return Err(err("wid_not_found", format!("{chat} is not on WhatsApp")));
        }
        Ok(format!("{phone}@c.us"))
    }

    /// Calls that need a logged-in page.
    fn rpc_linked(&mut self, page_id: &str, method: &str, a: &Value) -> RpcResult {
        let (me, device) = self.me(page_id)?;
        let s = |k: &str| a[k].as_str().unwrap_or_default().to_string();
        match method {
            "logout" => {
                self.drop_device(&device, "user_initiated");
                Ok(json!(true))
            }
            "react" => self
                .react(&me, &s("msg_id"), &s("text"), Some(page_id))
                .map(|_| json!("OK"))
                .map_err(Into::into),
            "edit" => self.rpc_edit(&me, page_id, &s("msg_id"), &s("body")),
            "revoke" => self.rpc_revoke(&me, page_id, &s("msg_id")),
            "read" => Ok(json!(self.read_chat(&me, &s("chat")))),
            "chatstate" => self.chat_state(&me, &device, &s("chat"), &s("state")),
            "star" => {
                let key = (me.clone(), messages::raw_id(&s("id")).to_string());
                match a["star"].as_bool().unwrap_or(true) {
                    true => self.stars.insert(key),
                    false => self.stars.remove(&key),
                };
                Ok(json!(true))
            }
            "hide" => {
                self.hidden.insert((me.clone(), messages::raw_id(&s("id")).to_string()));
                Ok(json!(true))
            }
            "call_reject" => self.call_reject(&me, &s("id")),
            "get_msg" => match self.find_msg(&s("id")).filter(|m| self.visible_to(m, &me)) {
                Some(m) => Ok(json!(m)),
                None => Err(err("msg_not_found", format!("message {} not found", s("id")))),
            },
            "media" => self.rpc_media(&me, &s("id")),
            "reactions" | "votes" => {
                let m =
                    self.find_msg(&s("msg_id")).filter(|m| self.visible_to(m, &me)).ok_or_else(
                        || err("msg_not_found", format!("message {} not found", s("msg_id"))),
                    )?;
                let kept = if method == "reactions" { &self.reactions } else { &self.votes };
                let list: Vec<Value> = kept
                    .get(&m.id)
                    .into_iter()
                    .flatten()
                    .map(|(who, v)| {
                        let mut v = v.clone();
                        v["sender"] = json!(who);
                        v
                    })
                    .collect();
                Ok(json!({"msg": m, "list": list}))
            }
            "exists" => Ok(self.rpc_exists(&s("id"))),
            "picture" => Ok(self
                .rpc_exists(&s("id"))
                .get("phone")
                .map(|p| {
                    json!(format!(
                        "{}/_sim/avatar/{}.svg",
                        self.base_url,
                        p.as_str().unwrap_or_default()
                    ))
                })
                .unwrap_or(Value::Null)),
            "find_chat" => self.find_chat(&s("id")),
            "contacts" => Ok(self
                .accounts
                .values()
                .filter(|x| x.phone != me)
                .map(|x| json!({"phone": x.phone, "pushname": x.pushname}))
                .collect()),
            "group_create" => self.group_create(&me, &s("name"), &a["participants"]),
            "group_participants" => self.group_participants(&s("gid")),
            "group_add" => self.group_add(&me, &s("gid"), &a["participants"]),
            "group_invite" => self
                .groups
                .get(&s("gid"))
                .map(|g| json!(g.invite_code))
                .ok_or_else(|| err("group_not_found", "no such group")),
            _ => Err(err("sim_unknown_rpc", format!("wa-sim server has no call {method}"))),
        }
    }

    fn rpc_edit(&mut self, me: &str, page_id: &str, id: &str, body: &str) -> RpcResult {
        match self.find_msg(id) {
            Some(m) if m.sender == me => {}
            _ => {
                return Err(err("edit_message_error", "only your own text messages can be edited"))
            }
        }
        self.edit(id, body, Some(page_id)).map(|m| json!(m)).map_err(Into::into)
    }

    fn rpc_revoke(&mut self, me: &str, page_id: &str, id: &str) -> RpcResult {
        match self.find_msg(id) {
            Some(m) if m.sender == me => {}
            Some(_) => return Err(err("not_allowed", "only your own messages can be revoked")),
            None => return Err(err("msg_not_found", format!("message {id} not found"))),
        }
        self.revoke(id, Some(page_id)).map(|m| json!(m)).map_err(Into::into)
    }

    fn rpc_media(&self, me: &str, id: &str) -> RpcResult {
        let m = self
            .find_msg(id)
            .filter(|m| self.visible_to(m, me))
            .ok_or_else(|| err("msg_not_found", format!("Message {id} not found")))?;
        if self.gone_media.contains(&m.id) {
            return Err(err("media_not_found", format!("Media not found for {id}")));
        }
        let media = self
            .media
            .get(&m.id)
            .ok_or_else(|| err("message_not_contains_media", "message has no media"))?;
        use base64::Engine;
        Ok(
            json!({"mimetype": media.mimetype, "data": base64::engine::general_purpose::STANDARD.encode(&media.bytes)}),
        )
    }

    /// `null` when the number is not on WhatsApp; otherwise its phone (null when asked by a LID
    /// whose phone number this account may not see), lid, name and addressing.
    fn rpc_exists(&mut self, id: &str) -> Value {
        let by_lid = id.ends_with("@lid");
        let phone = match id.strip_suffix("@lid") {
            Some(lid) => self.lids.get(lid).cloned(),
            None => digits(id),
        };
        match phone {
            Some(p) if !self.missing.contains(&p) => {
                let lid = self.lid_of(&p);
                let account = self.accounts.get(&p);
                let name = account.map(|a| a.pushname.clone());
                let lid_addressed = account.is_some_and(|a| a.lid_addressed);
                let pn_visible = account.is_none_or(|a| a.pn_visible);
                let shown = if by_lid && !pn_visible { Value::Null } else { json!(p) };
                json!({"phone": shown, "lid": lid, "pushname": name, "lid_addressed": lid_addressed})
            }
            _ => Value::Null,
        }
    }

    /// The chat a send to `id` lands in: a lid-addressed contact's chat is `<lid>@lid`.
    fn find_chat(&mut self, id: &str) -> RpcResult {
        if id.ends_with("@g.us") {
            return match self.groups.contains_key(id) {
                true => Ok(json!({"id": id})),
                false => Err(err("chat_not_found", format!("chat {id} not found"))),
            };
        }
        let r = self.rpc_exists(id);
        if r.is_null() {
            return Err(err("wid_not_found", format!("{id} is not on WhatsApp")));
        }
        let lid = r["lid"].as_str().unwrap_or_default().to_string();
        let chat = match (r["lid_addressed"].as_bool() == Some(true), r["phone"].as_str()) {
            (false, Some(p)) => format!("{p}@c.us"),
            _ => format!("{lid}@lid"),
        };
        Ok(json!({"id": chat, "lid": lid, "phone": r["phone"]}))
    }

    /// A page shows typing / recording / paused in a chat: logged for the control API and
    /// shown to the other side's pages as `chat.presence_change`.
    fn chat_state(&mut self, me: &str, device: &str, chat: &str, state: &str) -> RpcResult {
        if !["composing", "recording", "paused"].contains(&state) {
            return Err(err("invalid_state", format!("unknown chat state {state}")));
        }
        let to = match chat.strip_suffix("@lid") {
            Some(lid) => self.lids.get(lid).cloned().unwrap_or_else(|| chat.to_string()),
            None => chat.strip_suffix("@c.us").unwrap_or(chat).to_string(),
        };
        let at = now_ms();
        self.presence_log.push(json!({"from": me, "device": device, "chat": chat, "to": to, "state": state, "at_ms": at}));
        if !to.ends_with("@g.us") {
            let shown = if state == "paused" { "available" } else { state };
            self.presence(me, &to, shown);
        }
        Ok(Value::Null)
    }

    fn call_reject(&mut self, me: &str, id: &str) -> RpcResult {
        let call = self
            .calls
            .get_mut(id)
            .filter(|c| c.to == me)
            .ok_or_else(|| err("call_not_found", format!("Call {id} not found")))?;
        if call.state != "ringing" {
            return Err(err(
                "call_is_not_incoming_ring",
                format!("Call {id} is not incoming ring"),
            ));
        }
        call.state = "rejected".into();
        Ok(json!(true))
    }

    fn group_create(&mut self, me: &str, name: &str, parts: &Value) -> RpcResult {
        let phones = self.group_phones(parts)?;
        let gid = format!("120363{}@g.us", random_from(b"0123456789", 12));
        let mut members = vec![me.to_string()];
        members.extend(phones.iter().filter(|p| p.as_str() != me).cloned());
        self.groups.insert(
            gid.clone(),
            Group {
                id: gid.clone(),
                subject: name.to_string(),
                owner: me.to_string(),
                admins: vec![me.to_string()],
                members: members.clone(),
                invite_code: random_from(
                    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
                    22,
                ),
            },
        );
        self.group_event(&gid, "add", me, &phones);
        let mut result = Map::new();
        for p in &phones {
            let wid = format!("{p}@c.us");
            result.insert(
                wid.clone(),
                json!({"wid": wid, "code": 200, "invite_code": null, "invite_code_exp": null}),
            );
        }
        Ok(json!({"gid": gid, "participants": result}))
    }

    fn group_phones(&self, parts: &Value) -> Result<Vec<String>, (String, String)> {
        let list: Vec<Value> = match parts {
            Value::Array(v) => v.clone(),
            Value::String(_) => vec![parts.clone()],
            _ => vec![],
        };
        let mut out = Vec::new();
        for p in list {
            let phone = p.as_str().and_then(digits).filter(|p| !self.missing.contains(p));
            out.push(phone.ok_or_else(|| {
                err("participant_not_exists", format!("participant {p} does not exist"))
            })?);
        }
        Ok(out)
    }

    fn group_participants(&self, gid: &str) -> RpcResult {
        let g = self.groups.get(gid).ok_or_else(|| err("group_not_found", "no such group"))?;
        Ok(g.members
            .iter()
            .map(|m| json!({"id": self.wid_of(m), "isAdmin": g.admins.contains(m), "isSuperAdmin": &g.owner == m}))
            .collect())
    }

    fn group_add(&mut self, me: &str, gid: &str, parts: &Value) -> RpcResult {
        let phones = self.group_phones(parts)?;
        let g = self.groups.get_mut(gid).ok_or_else(|| err("group_not_found", "no such group"))?;
        let mut result = Map::new();
        let mut added = Vec::new();
        for p in phones {
            let wid = format!("{p}@c.us");
            let code = if g.members.contains(&p) { 409 } else { 200 };
            if code == 200 {
                g.members.push(p.clone());
                added.push(p);
            }
            result.insert(wid.clone(), json!({"wid": wid, "code": code, "message": if code == 200 {"OK"} else {"already a participant"}, "invite_code": null, "invite_code_exp": null}));
        }
        if !added.is_empty() {
            self.group_event(gid, "add", me, &added);
        }
        Ok(Value::Object(result))
    }

    /// Tell every member of a group (and whoever just left it) that its participants changed.
    /// `action` is wa-js's (`add remove promote demote join leave`).
    pub(crate) fn group_event(&mut self, gid: &str, action: &str, author: &str, who: &[String]) {
        let Some(g) = self.groups.get(gid) else {
            return;
        };
        let operation = match action {
            "join" => "add",
            "leave" => "remove",
            other => other,
        };
        let author_name = self.accounts.get(author).map(|a| a.pushname.clone());
        let all = g
            .members
            .iter()
            .chain(who.iter())
            .chain(std::iter::once(&author.to_string()))
            .cloned()
            .collect::<Vec<_>>();
        let ev = json!({
            "t": "ev", "kind": "group", "gid": gid, "action": action, "operation": operation,
            "author": author, "author_name": author_name,
            "participants": who, "subject": g.subject, "members": g.members, "admins": g.admins,
            "wids": self.wids_of(&all),
        });
        let mut to: Vec<String> = g.members.clone();
        to.extend(who.iter().filter(|p| !g.members.contains(p)).cloned());
        for m in to {
            self.push_account(&m, ev.clone(), None);
        }
    }
}
