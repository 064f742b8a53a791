//! The network and the other clients: which pages a control call targets, cutting and restoring
//! connections, another client taking the account over, and crashing a page.

use super::*;

/// Which pages or devices a control call is about; all `None` selects every page.
#[derive(Clone, Debug, Default, serde::Deserialize, serde::Serialize)]
#[serde(default)]
pub struct Target {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
}

impl Target {
    pub fn all() -> Self {
        Target::default()
    }

    pub fn page(id: impl Into<String>) -> Self {
        Target { page: Some(id.into()), ..Target::default() }
    }

    pub fn device(id: impl Into<String>) -> Self {
        Target { device: Some(id.into()), ..Target::default() }
    }

    pub fn phone(phone: impl Into<String>) -> Self {
        Target { phone: Some(phone.into()), ..Target::default() }
    }
}

impl World {
    /// Select pages by `{"page"}`, `{"device"}` or `{"phone"}`; nothing selects every page.
    pub fn select_pages(&self, t: &Target) -> Vec<String> {
        self.pages
            .values()
            .filter(|p| match (&t.page, &t.device, &t.phone) {
                (Some(id), _, _) => &p.id == id,
                (None, Some(d), _) => p.device.as_ref() == Some(d),
                (None, None, Some(ph)) => p
                    .device
                    .as_ref()
                    .and_then(|d| self.devices.get(d))
                    .is_some_and(|d| &d.phone == ph),
                (None, None, None) => true,
            })
            .map(|p| p.id.clone())
            .collect()
    }

    pub fn conflict(&mut self, t: &Target) -> Vec<String> {
        let pages: Vec<String> =
            self.select_pages(t).into_iter().filter(|p| self.is_linked_live(p)).collect();
        for id in &pages {
            self.send_page(id, &json!({"t": "conflict"}));
            self.close_page(id);
            if let Some(p) = self.pages.get_mut(id) {
                p.state = PageState::Conflict;
            }
        }
        pages
    }

    pub fn crash(&mut self, t: &Target) -> Vec<String> {
        let pages: Vec<String> =
            self.select_pages(t).into_iter().filter(|p| self.pages[p].tx.is_some()).collect();
        for id in &pages {
            self.send_page(id, &json!({"t": "crash"}));
            if let Some(p) = self.pages.get_mut(id) {
                p.state = PageState::Crashed;
            }
        }
        pages
    }

    fn is_linked_live(&self, page: &str) -> bool {
        self.pages.get(page).is_some_and(|p| p.tx.is_some() && p.device.is_some())
    }

    /// Cut connections; pages keep retrying until `set_online`.
    pub fn set_offline(&mut self, t: &Target) -> Vec<String> {
        match (&t.page, &t.device, &t.phone) {
            (Some(p), _, _) => self.offline.pages.push(p.clone()),
            (None, Some(d), _) => self.offline.devices.push(d.clone()),
            (None, None, Some(ph)) => {
                let ids: Vec<String> = self
                    .devices
                    .values()
                    .filter(|d| &d.phone == ph)
                    .map(|d| d.id.clone())
                    .collect();
                self.offline.devices.extend(ids);
            }
            (None, None, None) => self.offline.all = true,
        }
        let pages: Vec<String> = self
            .pages
            .values()
            .filter(|p| p.tx.is_some() && self.offline.covers(&p.id, p.device.as_deref()))
            .map(|p| p.id.clone())
            .collect();
        for id in &pages {
            self.close_page(id);
        }
        pages
    }

    pub fn set_online(&mut self, t: &Target) {
        match (&t.page, &t.device, &t.phone) {
            (Some(p), _, _) => self.offline.pages.retain(|x| x != p),
            (None, Some(d), _) => self.offline.devices.retain(|x| x != d),
            (None, None, Some(ph)) => {
                let prefix = format!("{ph}:");
                self.offline.devices.retain(|x| !x.starts_with(&prefix));
            }
            (None, None, None) => self.offline = Offline::default(),
        }
    }

    /// A hard block from WhatsApp (banned, proxy blocked, client too old) on the selected
    /// connected pages; it lasts until the page reloads.
    pub fn block(&mut self, t: &Target, mode: &str) -> Vec<String> {
        let pages: Vec<String> =
            self.select_pages(t).into_iter().filter(|p| self.pages[p].tx.is_some()).collect();
        for id in &pages {
            self.send_page(id, &json!({"t": "block", "mode": mode}));
        }
        pages
    }
}
