//! What `#[commands]` registers: names, aliases, docs and arguments of the
//! generated `CommandSpec`s, read back through the router without running a
//! bot.

use ilink_framework::command::__private::Route;
use ilink_framework::command::{ArgKind, CommandSpec};
use ilink_framework::prelude::*;

struct Calc;

fn parse_hex(input: &str) -> Result<u32, std::num::ParseIntError> {
    u32::from_str_radix(input.trim_start_matches("0x"), 16)
}

async fn always(_bot: &Calc, _ctx: &Context) -> bool {
    true
}

#[commands(prefix = "!", rename_all = "kebab-case")]
impl Calc {
    /// Add two integers.
    ///
    /// Both must fit in an i64.
    #[command(aliases = ["plus", "sum"])]
    async fn add(&self, ctx: &mut Context, a: i64, b: i64) -> HandlerResult {
        ctx.reply(format!("{}", a + b)).await?;
        Ok(())
    }

    /// Say something back.
    async fn echo(&self, ctx: &mut Context, text: String) -> HandlerResult {
        ctx.reply(text).await?;
        Ok(())
    }

    /// Set the name.
    #[command(check = always, cooldown = "1m 30s", description = "Rename.")]
    async fn set_name(
        &self,
        ctx: &mut Context,
        who: String,
        name: Option<String>,
    ) -> HandlerResult {
        let _ = (ctx, who, name);
        Ok(())
    }

    #[command(name = "hex", hidden)]
    async fn hex_value(
        &self,
        ctx: &mut Context,
        #[arg(parse_with = parse_hex)] value: u32,
        times: Option<u8>,
    ) -> HandlerResult {
        let _ = (ctx, value, times);
        Ok(())
    }

    /// Not a command: no `&mut Context`.
    async fn helper(&self) -> u32 {
        1
    }

    #[skip]
    async fn log(&self, ctx: &mut Context, line: &str) {
        let _ = (ctx, line);
    }

    #[fallback]
    async fn chat(&self, _ctx: &mut Context, _msg: &Message) -> HandlerResult {
        Ok(())
    }
}

fn specs() -> Vec<CommandSpec> {
    Calc::__ilink_router().unwrap().set().specs().to_vec()
}

#[test]
fn names_follow_the_rename_rule_and_overrides() {
    let names: Vec<String> = specs().into_iter().map(|s| s.name).collect();
    assert_eq!(names, ["add", "echo", "set-name", "hex", "help"]);
}

#[test]
fn docs_aliases_and_options() {
    let specs = specs();
    assert_eq!(specs[0].aliases, ["plus", "sum"]);
    assert_eq!(specs[0].description.as_deref(), Some("Add two integers."));
    assert_eq!(
        specs[0].details.as_deref(),
        Some("Both must fit in an i64.")
    );
    assert_eq!(specs[2].description.as_deref(), Some("Rename."));
    assert_eq!(specs[2].cooldown, Some(std::time::Duration::from_secs(90)));
    assert!(specs[3].hidden);
    assert_eq!(specs[3].description, None);
}

#[test]
fn argument_kinds_and_types() {
    let specs = specs();
    let kinds = |i: usize| -> Vec<(String, String, ArgKind)> {
        specs[i]
            .args
            .iter()
            .map(|a| (a.name.clone(), a.type_name.clone(), a.kind))
            .collect()
    };
    assert_eq!(
        kinds(0),
        [
            ("a".into(), "i64".into(), ArgKind::Required),
            ("b".into(), "i64".into(), ArgKind::Required)
        ]
    );
    assert_eq!(kinds(1), [("text".into(), "String".into(), ArgKind::Rest)]);
    assert_eq!(
        kinds(2),
        [
            ("who".into(), "String".into(), ArgKind::Required),
            ("name".into(), "String".into(), ArgKind::OptionalRest)
        ]
    );
    assert_eq!(
        kinds(3),
        [
            ("value".into(), "u32".into(), ArgKind::Required),
            ("times".into(), "u8".into(), ArgKind::Optional)
        ]
    );
    assert_eq!(specs[2].usage("!"), "!set-name <who> [name...]");
}

#[test]
fn routes_use_the_prefix() {
    let router = Calc::__ilink_router().unwrap();
    assert!(matches!(
        router.route("!SUM 1 2"),
        Route::Command { index: 0, .. }
    ));
    assert!(matches!(router.route("/add 1 2"), Route::NotACommand));
    let Route::Reply(help) = router.route("!help") else {
        panic!("help is served");
    };
    assert!(
        help.contains("!set-name <who> [name...] — Rename."),
        "{help}"
    );
    assert!(
        !help.contains("hex"),
        "hidden commands are not listed: {help}"
    );
}

#[test]
fn other_items_are_kept() {
    let calc = Calc;
    drop(calc.helper());
    let _ = Calc::log;
    fn is_handler<H: Handler>(_: &H) {}
    is_handler(&calc);
}
