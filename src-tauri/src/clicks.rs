//! Which tray-icon clicks are a person's "toggle". Windows reports a double click as a
//! click, a double-click event and a second button-up: acting on every button-up would
//! toggle twice and leave the proxy as it was. The button-up that ends a double click is
//! part of it, not a click of its own. (Linux delivers no clicks; the menu has the toggle.)

use tauri::tray::{MouseButton, MouseButtonState, TrayIconEvent};

#[derive(Debug, Default)]
pub struct ClickFilter {
    in_double_click: bool,
}

impl ClickFilter {
    /// True when `event` should toggle the proxy.
    pub fn toggles(&mut self, event: &TrayIconEvent) -> bool {
        match event {
            TrayIconEvent::DoubleClick {
                button: MouseButton::Left,
                ..
            } => {
                self.in_double_click = true;
                false
            }
            TrayIconEvent::Click {
                button: MouseButton::Left,
                button_state: MouseButtonState::Up,
                ..
            } => !std::mem::take(&mut self.in_double_click),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use tauri::tray::TrayIconId;
    use tauri::{PhysicalPosition, Position, Rect, Size};

    use super::*;

    fn click(button: MouseButton, state: MouseButtonState) -> TrayIconEvent {
        TrayIconEvent::Click {
            id: TrayIconId::new("t"),
            position: PhysicalPosition::default(),
            rect: rect(),
            button,
            button_state: state,
        }
    }

    fn rect() -> Rect {
        Rect {
            position: Position::Physical(PhysicalPosition::default()),
            size: Size::Physical(Default::default()),
        }
    }

    fn double(button: MouseButton) -> TrayIconEvent {
        TrayIconEvent::DoubleClick {
            id: TrayIconId::new("t"),
            position: PhysicalPosition::default(),
            rect: rect(),
            button,
        }
    }

    /// Event sequences as Windows delivers them → how many toggles.
    #[test]
    fn a_double_click_toggles_once_and_single_clicks_each_toggle() {
        use MouseButton::{Left, Right};
        use MouseButtonState::{Down, Up};
        let cases: Vec<(&str, Vec<TrayIconEvent>, usize)> = vec![
            ("one click", vec![click(Left, Down), click(Left, Up)], 1),
            (
                "a double click",
                vec![
                    click(Left, Down),
                    click(Left, Up),
                    double(Left),
                    click(Left, Up),
                ],
                1,
            ),
            (
                "two double clicks",
                vec![
                    click(Left, Up),
                    double(Left),
                    click(Left, Up),
                    click(Left, Up),
                    double(Left),
                    click(Left, Up),
                ],
                2,
            ),
            ("two slow clicks", vec![click(Left, Up), click(Left, Up)], 2),
            (
                "right button (the menu)",
                vec![click(Right, Up), double(Right), click(Right, Up)],
                0,
            ),
        ];
        for (name, events, toggles) in cases {
            let mut filter = ClickFilter::default();
            let n = events.iter().filter(|e| filter.toggles(e)).count();
            assert_eq!(n, toggles, "{name}");
        }
    }
}
