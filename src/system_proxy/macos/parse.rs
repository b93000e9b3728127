//! Reading what `networksetup` and `scutil` print. Service names are kept exactly as
//! printed: a name may end in spaces, and `networksetup` matches names exactly.

/// One network service as `-listallnetworkservices` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    pub name: String,
    pub enabled: bool,
}

/// The line `networksetup` puts before its lists.
const HEADER: &str = "An asterisk (*) denotes that a network service is disabled.";

fn lines(output: &str) -> impl Iterator<Item = &str> {
    output.lines().map(|l| l.strip_suffix('\r').unwrap_or(l))
}

/// `-listallnetworkservices`: a header line, then one name per line, `*` before disabled ones.
pub fn services(output: &str) -> Vec<Service> {
    lines(output)
        .filter(|l| !l.is_empty() && *l != HEADER)
        .map(|l| match l.strip_prefix('*') {
            Some(name) => Service {
                name: name.to_string(),
                enabled: false,
            },
            None => Service {
                name: l.to_string(),
                enabled: true,
            },
        })
        .collect()
}

/// `-listnetworkserviceorder`: `(1) Wi-Fi` (or `(*) Name` when disabled) followed by
/// `(Hardware Port: Wi-Fi, Device: en0)`. Returns (name, device) in service order.
pub fn service_devices(output: &str) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let mut name: Option<String> = None;
    for line in lines(output) {
        if let Some(rest) = line.strip_prefix("(Hardware Port: ") {
            if let (Some(n), Some((_, device))) = (name.take(), rest.rsplit_once("Device: ")) {
                found.push((n, device.trim_end_matches(')').trim().to_string()));
            }
        } else if let Some(rest) = line.strip_prefix('(') {
            name = rest.split_once(") ").map(|(_, n)| n.to_string());
        }
    }
    found
}

/// `scutil` `show State:/Network/Global/IPv4`: the `PrimaryInterface` (`en0`), if online.
pub fn primary_interface(output: &str) -> Option<String> {
    lines(output).find_map(|l| {
        l.trim()
            .strip_prefix("PrimaryInterface : ")
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    })
}

/// `PrimaryService : <UUID>` from `show State:/Network/Global/IPv4`.
pub fn primary_service_id(output: &str) -> Option<String> {
    dictionary_value(output, "PrimaryService").map(|v| v.trim().to_string())
}

/// `UserDefinedName : <name>` from `show Setup:/Network/Service/<UUID>`, exactly: a name
/// may end in spaces.
pub fn user_defined_name(output: &str) -> Option<String> {
    dictionary_value(output, "UserDefinedName").map(String::from)
}

/// The text after `KEY : ` in scutil's dictionary listing.
fn dictionary_value<'a>(output: &'a str, key: &str) -> Option<&'a str> {
    lines(output).find_map(|l| {
        l.trim_start()
            .strip_prefix(key)?
            .strip_prefix(" : ")
            .filter(|v| !v.trim().is_empty())
    })
}

/// The value after `Name:` on its own line, as the `-get…` commands print it.
pub fn field(output: &str, name: &str) -> String {
    lines(output)
        .find_map(|l| {
            l.strip_prefix(name)?
                .strip_prefix(':')
                .map(|v| v.trim().to_string())
        })
        .unwrap_or_default()
}

/// `-getproxybypassdomains`: one domain per line, or a sentence when there are none.
pub fn bypass_domains(output: &str) -> Vec<String> {
    if output.contains("There aren't any bypass domains") {
        return Vec::new();
    }
    lines(output)
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_lists_keep_names_exactly_and_know_disabled_ones() {
        let out = "An asterisk (*) denotes that a network service is disabled.\nWi-Fi\n\
                   *Bluetooth PAN\nUSB 10/100/1000 LAN  \nThunderbolt Bridge\n";
        assert_eq!(
            services(out),
            [
                ("Wi-Fi", true),
                ("Bluetooth PAN", false),
                ("USB 10/100/1000 LAN  ", true),
                ("Thunderbolt Bridge", true)
            ]
            .map(|(n, e)| Service {
                name: n.into(),
                enabled: e
            })
        );
        let order = "An asterisk (*) denotes that a network service is disabled.\n(1) Wi-Fi\n\
                     (Hardware Port: Wi-Fi, Device: en0)\n\n(*) Bluetooth PAN\n\
                     (Hardware Port: Bluetooth PAN, Device: en5)\n\n(2) USB (LAN)  \n\
                     (Hardware Port: USB 10/100/1000 LAN, Device: en7)\n\n";
        assert_eq!(
            service_devices(order),
            [
                ("Wi-Fi", "en0"),
                ("Bluetooth PAN", "en5"),
                ("USB (LAN)  ", "en7")
            ]
            .map(|(n, d)| (n.to_string(), d.to_string()))
        );
    }

    #[test]
    fn fields_primary_interface_and_bypass_lists() {
        let web = "Enabled: No\nServer: 127.0.0.1\nPort: 1095\nAuthenticated Proxy Enabled: 0\n";
        assert_eq!(field(web, "Enabled"), "No");
        assert_eq!(field(web, "Server"), "127.0.0.1");
        assert_eq!(field(web, "Authenticated Proxy Enabled"), "0");
        assert_eq!(field("URL: (null)\nEnabled: No\n", "URL"), "(null)");
        assert_eq!(field(web, "Missing"), "");
        let ipv4 = "<dictionary> {\n  PrimaryInterface : en0\n  PrimaryService : 1F2E\n}\n";
        assert_eq!(primary_interface(ipv4).as_deref(), Some("en0"));
        assert_eq!(primary_interface("  No such key\n"), None);
        assert_eq!(primary_service_id(ipv4).as_deref(), Some("1F2E"));
        assert_eq!(primary_service_id("  No such key\n"), None);
        let setup = "<dictionary> {\n  UserDefinedName : Ethernet  \r\n}\n";
        assert_eq!(user_defined_name(setup).as_deref(), Some("Ethernet  "));
        assert_eq!(
            bypass_domains("There aren't any bypass domains set on Wi-Fi.\n"),
            Vec::<String>::new()
        );
        assert_eq!(
            bypass_domains("*.local\n169.254/16\n"),
            ["*.local", "169.254/16"]
        );
    }
}
