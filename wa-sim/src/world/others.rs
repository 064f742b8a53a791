//! What other people and WhatsApp itself do to an account besides messaging it: groups a phone
//! creates and changes, calls it places, and WhatsApp's ban signal.

use super::messages::digits;
use super::*;
use crate::error::SimError;

impl World {
    /// A phone creates a group with some members (the account's pages get `group.participant_changed`).
    pub fn phone_group_create(
        &mut self,
        owner: &str,
        subject: &str,
        members: &[String],
    ) -> Result<Value, SimError> {
        let mut all = vec![owner.to_string()];
        for m in members {
            let p = digits(m).ok_or(SimError::Bad("`members` must be phone numbers"))?;
            if !all.contains(&p) {
                all.push(p);
            }
        }
        let gid = format!("120363{}@g.us", random_from(b"0123456789", 12));
        let added: Vec<String> = all.iter().skip(1).cloned().collect();
        for p in &all {
            self.account(p);
        }
        self.groups.insert(
            gid.clone(),
            Group {
                id: gid.clone(),
                subject: subject.to_string(),
                owner: owner.to_string(),
                admins: vec![owner.to_string()],
                members: all.clone(),
                invite_code: random_from(
                    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
                    22,
                ),
            },
        );
        self.group_event(&gid, "add", owner, &added);
        Ok(json!({"id": gid, "subject": subject, "members": all, "admins": [owner]}))
    }

    /// Someone changes a group's participants: `add remove promote demote join leave`.
    pub fn phone_group_change(
        &mut self,
        gid: &str,
        action: &str,
        author: Option<&str>,
        who: &[String],
    ) -> Result<Value, SimError> {
        let mut phones = Vec::new();
        for w in who {
            phones.push(digits(w).ok_or(SimError::Bad("`participants` must be phone numbers"))?);
        }
        let g = self
            .groups
            .get_mut(gid)
            .ok_or(SimError::NotFound("GROUP_NOT_FOUND", "no such group"))?;
        let author = match (action, author) {
            ("leave" | "join", _) => phones.first().cloned().unwrap_or_default(),
            (_, Some(a)) => digits(a).ok_or(SimError::Bad("`author` must be a phone number"))?,
            (_, None) => g.owner.clone(),
        };
        match action {
            "add" | "join" => {
                for p in &phones {
                    if !g.members.contains(p) {
                        g.members.push(p.clone());
                    }
                }
            }
            "remove" | "leave" => {
                g.members.retain(|m| !phones.contains(m));
                g.admins.retain(|m| !phones.contains(m));
            }
            "promote" => {
                for p in &phones {
                    if g.members.contains(p) && !g.admins.contains(p) {
                        g.admins.push(p.clone());
                    }
                }
            }
            "demote" => g.admins.retain(|m| !phones.contains(m)),
            _ => {
                return Err(SimError::Bad(
                    "`action` must be add, remove, promote, demote, join or leave",
                ))
            }
        }
        let out = json!({"id": gid, "members": g.members, "admins": g.admins});
        for p in &phones {
            self.account(p);
        }
        self.group_event(gid, action, &author, &phones);
        Ok(out)
    }

    /// A phone calls an account: `call.incoming_call` on its pages while they are connected
    /// (a call that rings while the page is away is not replayed).
    pub fn place_call(&mut self, from: &str, to: &str, is_video: bool) -> Value {
        let call = Call {
            id: random_hex_upper(32),
            from: from.to_string(),
            to: to.to_string(),
            is_video,
            is_group: false,
            offer_time: now_s(),
            state: "ringing".into(),
        };
        let lid = self.accounts.get(from).filter(|a| a.lid_addressed).map(|_| lid_of_phone(from));
        let ev = json!({"t": "ev", "kind": "call", "call": call, "from_lid": lid});
        self.calls.insert(call.id.clone(), call.clone());
        self.account(from);
        self.push_account(to, ev, None);
        json!(call)
    }

    pub fn end_call(&mut self, id: &str) -> Result<Value, SimError> {
        let c =
            self.calls.get_mut(id).ok_or(SimError::NotFound("CALL_NOT_FOUND", "no such call"))?;
        if c.state == "ringing" {
            c.state = "ended".into();
        }
        Ok(json!(c))
    }

    pub fn calls_json(&self) -> Value {
        Value::Array(self.calls.values().map(|c| json!(c)).collect())
    }

    /// WhatsApp tells the selected connected pages the account is temporarily banned: the
    /// page's BackendEventBus fires `account_temporarily_banned`, which wa-js re-emits as
    /// `conn.backend_event`. Returns the pages told.
    pub fn ban(&mut self, t: &Target, expires_in_s: Option<u64>) -> Vec<String> {
        let pages: Vec<String> = self
            .select_pages(t)
            .into_iter()
            .filter(|p| self.pages.get(p).is_some_and(|p| p.tx.is_some() && p.device.is_some()))
            .collect();
        let expiry = expires_in_s.map(|s| now_s() + s);
        let frame = json!({"t": "backend", "name": "account_temporarily_banned", "args": [{"expiration": expiry}]});
        for id in &pages {
            self.send_page(id, &frame);
        }
        pages
    }

    /// The presence log (typing, recording, paused) of what `phone` sent and was sent.
    pub fn presence_json(&self, phone: &str) -> Value {
        let sent: Vec<&Value> = self.presence_log.iter().filter(|e| e["from"] == phone).collect();
        let received: Vec<&Value> = self.presence_log.iter().filter(|e| e["to"] == phone).collect();
        json!({"phone": phone, "sent": sent, "received": received})
    }

    /// Set how others see a number: on WhatsApp or not, addressed by LID, phone visible.
    pub fn set_number(
        &mut self,
        phone: &str,
        exists: Option<bool>,
        lid_addressed: Option<bool>,
        pn_visible: Option<bool>,
    ) -> Value {
        match exists {
            Some(true) => {
                self.missing.remove(phone);
            }
            Some(false) => {
                self.missing.insert(phone.to_string());
            }
            None => {}
        }
        let lid = self.lid_of(phone);
        let a = self.account(phone);
        if let Some(v) = lid_addressed {
            a.lid_addressed = v;
        }
        if let Some(v) = pn_visible {
            a.pn_visible = v;
        }
        let (la, pv) = (a.lid_addressed, a.pn_visible);
        json!({"phone": phone, "exists": !self.missing.contains(phone), "lid": format!("{lid}@lid"),
               "lid_addressed": la, "pn_visible": pv})
    }
}

fn lid_of_phone(phone: &str) -> String {
    super::messages::lid_for(phone)
}
