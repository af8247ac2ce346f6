//! State tests (actions in, state and effects out, no rendering) and render tests
//! (`TestBackend` buffers asserted for every view at 80×24 and 200×60, and a no-panic
//! sweep down to 40×10).

use super::action::*;
use super::app::{App, Connection, View, backoff};
use super::keymap::Keymap;
use super::theme::Theme;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use idoctor_protocol::*;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui_image::picker::Picker;
use std::time::{Duration, Instant};

fn user(role: Role) -> UserInfo {
    UserInfo {
        id: 1,
        username: if role == Role::Admin { "root" } else { "ana" }.into(),
        role,
        plan: "pro".into(),
        disabled: false,
        mode: JobMode::Review,
        outbox: false,
        created_at_ms: 1_700_000_000_000,
    }
}

fn job(id: i64, state: JobState) -> JobInfo {
    JobInfo {
        id,
        series_id: id,
        state,
        step: JobStep::Detect,
        stage: (state == JobState::Running).then(|| "segment".into()),
        progress: (state == JobState::Running).then_some(0.42),
        held_quota: (state == JobState::Held).then_some(QuotaType::ApiCallsFullProcess),
        error: None,
        mode: JobMode::Review,
        attempts: 0,
        patient_id: format!("PAT-{id:03}"),
        study_date: Some("20260105".into()),
        series_description: Some("ABD 2.5mm".into()),
        l3_confidence: Some(0.91),
        l3_mid_z_mm: Some(-150.0),
        version: Some(1),
        username: "ana".into(),
        created_at_ms: 1_700_000_000_000,
        updated_at_ms: 1_700_000_000_000,
    }
}

fn zs() -> Vec<f64> {
    (0..120).map(|i| -250.0 + 2.5 * i as f64).collect()
}

fn l3(index: u32) -> L3Finding {
    L3Finding {
        status: L3Status::Found,
        mid_z_mm: Some(zs()[index as usize]),
        z_range_mm: Some([-160.0, -130.0]),
        mid_slice_index: Some(index),
        mid_slice_uid: None,
        confidence: 0.91,
        low_confidence: false,
        method: "classical".into(),
        anchors: vec!["S1".into()],
        reason: None,
        evidence: vec![],
    }
}

fn version(v: i64, kind: ResultKind) -> VersionInfo {
    VersionInfo {
        version: v,
        kind,
        created_by: None,
        reason: "pipeline".into(),
        l3_mid_z_mm: Some(-150.0),
        bytes: 123_456,
        created_at_ms: 1_700_000_000_000,
    }
}

fn detail(id: i64, state: JobState, versions: i64) -> JobDetail {
    JobDetail {
        job: job(id, state),
        versions: (1..=versions)
            .map(|v| {
                version(
                    v,
                    if v == 1 {
                        ResultKind::Automatic
                    } else {
                        ResultKind::L3Corrected
                    },
                )
            })
            .collect(),
        l3: Some(l3(40)),
        slice_z_mm: zs(),
    }
}

fn stats(area: f64) -> TissueStats {
    TissueStats {
        pixels: 1000,
        area_cm2: area,
        hu_mean: Some(35.5),
        hu_sd: Some(12.0),
        hu_min: Some(-29.0),
        hu_max: Some(150.0),
        hu_sum: 35_500.0,
    }
}

fn results(v: i64, measured: bool) -> ResultVersion {
    let t = TissueSet {
        muscle: stats(152.25),
        psoas: stats(20.0),
        psoas_left: stats(10.0),
        psoas_right: stats(10.0),
        paraspinal: stats(50.0),
        abdominal_wall: stats(80.0),
        sat: stats(200.0),
        vat: stats(120.0),
        imat: stats(5.0),
    };
    let middle = SliceMetrics {
        index: 40,
        z_mm: -150.0,
        sop_instance_uid: "1.2.3".into(),
        tissues: t,
    };
    ResultVersion {
        info: version(v, ResultKind::Automatic),
        analysis: Analysis {
            schema_version: 1,
            series_uid: "1.2".into(),
            study_uid: "1.1".into(),
            patient_id: "PAT-001".into(),
            volume: VolumeSummary {
                slices: 120,
                rows: 256,
                columns: 256,
                pixel_spacing_mm: [0.8, 0.8],
                slice_spacing_mm: 2.5,
                z_min_mm: -250.0,
                z_max_mm: 47.5,
                warnings: vec![],
            },
            patient: PatientInfo::default(),
            l3: l3(40),
            metrics: measured.then(|| Metrics {
                middle: middle.clone(),
                slices: vec![middle],
                volumes: TissueSet::default(),
                smi_cm2_m2: Derived::known(48.7),
                psoas_index_cm2_m2: Derived::known(6.1),
                sarcopenic: Derived::missing("sex unknown"),
                mask_source: "classical".into(),
                segmentation_notes: vec![
                    "slice 41 (z -150.0 mm): psoas right cut back to the mirror image of the left"
                        .into(),
                ],
            }),
            metrics_missing_reason: (!measured).then(|| "awaiting L3 review".into()),
            methods: Methods {
                l3: "classical".into(),
                tissue: "classical".into(),
            },
            timings_ms: Timings::default(),
        },
    }
}

fn new_app(readonly: bool) -> App {
    App::new(
        "unix:/tmp/idoctord.sock".into(),
        readonly,
        Theme::dark(),
        Keymap::default(),
        Picker::halfblocks(),
    )
}

fn key(code: KeyCode) -> Action {
    Action::Key(KeyEvent::new(code, KeyModifiers::NONE))
}

fn ch(c: char) -> Action {
    key(KeyCode::Char(c))
}

fn typed(app: &mut App, text: &str) -> Vec<Effect> {
    let mut fx = Vec::new();
    for c in text.chars() {
        fx.extend(app.update(ch(c)));
    }
    fx
}

fn screen(app: &App, w: u16, h: u16) -> String {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| app.draw(f)).unwrap();
    let buf = t.backend().buffer().clone();
    let mut s = String::new();
    for y in 0..h {
        for x in 0..w {
            s.push_str(buf[(x, y)].symbol());
        }
        s.push('\n');
    }
    s
}

fn online(role: Role) -> App {
    let mut app = new_app(false);
    app.update(Action::Tick(Instant::now()));
    app.update(Action::Connected(Ok(user(role))));
    app
}

fn picture(key: ImageKey) -> Picture {
    let img = image::RgbImage::from_fn(64, 64, |x, y| {
        image::Rgb([(x * 4) as u8, (y * 4) as u8, 90])
    });
    Picture {
        key,
        image: image::DynamicImage::ImageRgb8(img),
    }
}

/// An app on the job detail of job 7 with results and all three pictures.
fn on_detail(state: JobState, measured: bool) -> App {
    let mut app = online(Role::Operator);
    app.update(Action::Jobs(Ok(vec![
        job(7, state),
        job(8, JobState::Done),
    ])));
    app.update(key(KeyCode::Enter));
    assert_eq!(app.view(), View::Job(7));
    let mut fx = app.update(Action::Detail(7, Ok((detail(7, state, 1), log()))));
    assert!(
        fx.contains(&Effect::Fetch(Fetch::Results(7, Some(1)))),
        "{fx:?}"
    );
    fx.extend(app.update(Action::Results(7, Ok(results(1, measured)))));
    let wanted = |k: &str| fx.iter().any(|e| format!("{e:?}").contains(k));
    assert!(
        wanted("Sagittal") && wanted("Axial { index: 40 }"),
        "{fx:?}"
    );
    assert_eq!(wanted("OverlayAll"), measured, "{fx:?}");
    for e in fx {
        if let Effect::Fetch(Fetch::Image(k)) = e {
            app.update(Action::Image(k, Ok(picture(k))));
        }
    }
    app
}

fn log() -> Vec<LogLine> {
    vec![LogLine {
        at_ms: 1_700_000_000_000,
        level: "info".into(),
        stage: "l3".into(),
        message: "L3 found at slice 40".into(),
    }]
}

fn quota(t: QuotaType, used: i64, limit: i64) -> QuotaStatus {
    QuotaStatus {
        quota_type: t,
        used,
        limit,
        plan_limit: limit,
        overridden: false,
        period_start_ms: 1_700_000_000_000,
        period_end_ms: t.resets_monthly().then_some(1_702_000_000_000),
    }
}

fn entry(id: i64) -> UsageEntry {
    UsageEntry {
        id,
        at_ms: 1_700_000_000_000 + id * 1000,
        username: if id % 2 == 0 { "ana" } else { "bob" }.into(),
        actor: None,
        quota_type: QuotaType::ApiCallsFullProcess,
        kind: UsageKind::Consume,
        amount: 1,
        job_id: Some(id),
        series_id: Some(id),
        idempotency_key: format!("job:{id}:full, \"x\""),
        metadata: "{}".into(),
    }
}

// ---------------------------------------------------------------- state tests

#[test]
fn refreshes_every_second_without_overlapping_fetches() {
    let mut app = new_app(false);
    let t0 = Instant::now();
    assert_eq!(
        app.update(Action::Tick(t0)),
        vec![Effect::Fetch(Fetch::Whoami)]
    );
    assert!(
        app.update(Action::Tick(t0 + Duration::from_millis(300)))
            .is_empty()
    );
    let fx = app.update(Action::Connected(Ok(user(Role::Operator))));
    assert_eq!(fx, vec![Effect::Fetch(Fetch::Jobs)]);
    // Still in flight two seconds later: no second fetch.
    assert!(
        app.update(Action::Tick(t0 + Duration::from_secs(2)))
            .is_empty()
    );
    // The slow answer is overdue, so the next fetch goes out with it.
    let fx = app.update(Action::Jobs(Ok(vec![job(1, JobState::Done)])));
    assert_eq!(fx, vec![Effect::Fetch(Fetch::Jobs)]);
    assert!(
        app.update(Action::Tick(t0 + Duration::from_millis(2100)))
            .is_empty()
    );
    app.update(Action::Jobs(Ok(vec![job(1, JobState::Done)])));
    assert!(
        app.update(Action::Tick(t0 + Duration::from_millis(2900)))
            .is_empty()
    );
    assert_eq!(
        app.update(Action::Tick(t0 + Duration::from_millis(3200))),
        vec![Effect::Fetch(Fetch::Jobs)]
    );
}

#[test]
fn a_dead_daemon_backs_off_and_keeps_the_last_data() {
    let mut app = online(Role::Operator);
    let t0 = Instant::now();
    app.update(Action::Tick(t0));
    app.update(Action::Jobs(Ok(vec![
        job(1, JobState::Done),
        job(2, JobState::Held),
    ])));
    let down = RpcError {
        kind: ErrorKind::Connection,
        message: "no daemon socket".into(),
    };
    app.update(Action::Tick(t0 + Duration::from_secs(2)));
    app.update(Action::Jobs(Err(down.clone())));
    assert!(matches!(
        app.connection,
        Connection::Reconnecting { failures: 1, .. }
    ));
    assert_eq!(app.jobs.list.len(), 2, "the last data stays");
    let text = screen(&app, 120, 24);
    assert!(
        text.contains("reconnecting…") && text.contains("PAT-002"),
        "{text}"
    );
    // Nothing before the backoff passes, then one try.
    assert!(
        app.update(Action::Tick(t0 + Duration::from_millis(2500)))
            .is_empty()
    );
    let fx = app.update(Action::Tick(t0 + Duration::from_millis(3100)));
    assert_eq!(fx, vec![Effect::Fetch(Fetch::Jobs)]);
    app.update(Action::Jobs(Err(down)));
    assert!(matches!(
        app.connection,
        Connection::Reconnecting { failures: 2, .. }
    ));
    assert!(
        app.update(Action::Tick(t0 + Duration::from_millis(4500)))
            .is_empty()
    );
    assert_eq!(backoff(1), Duration::from_secs(1));
    assert_eq!(backoff(2), Duration::from_secs(2));
    assert_eq!(backoff(10), Duration::from_secs(8));
    let fx = app.update(Action::Tick(t0 + Duration::from_millis(5200)));
    assert_eq!(fx, vec![Effect::Fetch(Fetch::Jobs)]);
    app.update(Action::Jobs(Ok(vec![job(1, JobState::Done)])));
    assert_eq!(app.connection, Connection::Online);
}

#[test]
fn an_expired_session_opens_the_login_prompt_and_logs_in() {
    let mut app = new_app(false);
    app.update(Action::Tick(Instant::now()));
    app.update(Action::Connected(Err(RpcError {
        kind: ErrorKind::Login,
        message: "not logged in".into(),
    })));
    assert_eq!(app.connection, Connection::NeedsLogin);
    assert!(app.form.is_some());
    // No polling while the prompt is up.
    assert!(
        app.update(Action::Tick(Instant::now() + Duration::from_secs(5)))
            .is_empty()
    );
    typed(&mut app, "ana");
    app.update(key(KeyCode::Tab));
    typed(&mut app, "s3cret pw");
    let text = screen(&app, 80, 24);
    assert!(
        text.contains("•••••••••") && !text.contains("s3cret"),
        "{text}"
    );
    let fx = app.update(key(KeyCode::Enter));
    assert_eq!(
        fx,
        vec![Effect::Login {
            username: "ana".into(),
            password: "s3cret pw".into()
        }]
    );
    app.update(Action::LoggedIn(Err(RpcError {
        kind: ErrorKind::Refused,
        message: "wrong username or password".into(),
    })));
    assert!(screen(&app, 80, 24).contains("wrong username or password"));
    let fx = app.update(Action::LoggedIn(Ok(user(Role::Operator))));
    assert!(app.form.is_none());
    assert_eq!(app.connection, Connection::Online);
    assert_eq!(fx, vec![Effect::Fetch(Fetch::Jobs)]);
}

#[test]
fn l3_moves_by_slice_and_vertebra_and_enter_confirms_set_l3() {
    let mut app = on_detail(JobState::AwaitingReview, false);
    let d = app.detail.as_ref().unwrap();
    assert_eq!(d.cursor, Some(40));
    app.update(key(KeyCode::Down));
    app.update(key(KeyCode::Down));
    assert_eq!(app.detail.as_ref().unwrap().cursor, Some(38));
    // The axial preview follows the cursor (one request at a time).
    let fx = app.update(key(KeyCode::Up));
    assert_eq!(app.detail.as_ref().unwrap().cursor, Some(39));
    assert!(
        fx.iter()
            .all(|e| matches!(e, Effect::Fetch(Fetch::Image(_)))),
        "{fx:?}"
    );
    app.update(key(KeyCode::PageUp));
    assert_eq!(
        app.detail.as_ref().unwrap().cursor,
        Some(39 + 14),
        "35 mm / 2.5 mm"
    );
    app.update(key(KeyCode::PageDown));
    app.update(key(KeyCode::Down));
    // `c` refuses while the cursor is away from the job's L3.
    assert!(app.update(ch('c')).is_empty());
    assert!(app.status.as_ref().unwrap().0.contains("enter"));
    assert!(app.update(key(KeyCode::Enter)).is_empty());
    assert!(app.confirm.is_some(), "set-l3 asks first");
    assert!(screen(&app, 80, 24).contains("slice 38"));
    let fx = app.update(ch('y'));
    assert_eq!(fx, vec![Effect::Mutate(Mutation::SetL3(7, zs()[38]))]);
    // The daemon's answer moves the job's L3; then `c` continues.
    let mut moved = detail(7, JobState::AwaitingReview, 1);
    moved.l3 = Some(l3(38));
    app.update(Action::Done(Ok(Outcome::Job(
        Box::new(moved),
        "L3 set".into(),
    ))));
    assert_eq!(app.detail.as_ref().unwrap().cursor, Some(38));
    assert_eq!(
        app.update(ch('c')),
        vec![Effect::Mutate(Mutation::Continue(7))]
    );
    // Clamped at the ends.
    for _ in 0..200 {
        app.update(key(KeyCode::PageDown));
    }
    assert_eq!(app.detail.as_ref().unwrap().cursor, Some(0));
}

#[test]
fn readonly_refuses_every_change() {
    let mut app = new_app(true);
    app.update(Action::Tick(Instant::now()));
    app.update(Action::Connected(Ok(user(Role::Admin))));
    app.update(Action::Jobs(Ok(vec![job(7, JobState::AwaitingReview)])));
    assert!(app.update(ch('R')).is_empty());
    assert!(app.confirm.is_none());
    app.update(key(KeyCode::Enter));
    app.update(Action::Detail(
        7,
        Ok((detail(7, JobState::AwaitingReview, 1), vec![])),
    ));
    app.update(key(KeyCode::Down));
    app.update(key(KeyCode::Enter));
    assert!(app.confirm.is_none(), "no set-l3 in read-only");
    assert!(app.update(ch('c')).is_empty());
    assert!(app.status.as_ref().unwrap().0.contains("read-only"));
    app.push(View::Users, true);
    app.update(Action::Users(Ok(vec![user(Role::Operator)])));
    app.update(ch('d'));
    app.update(ch('a'));
    assert!(app.confirm.is_none() && app.form.is_none());
    assert!(screen(&app, 80, 24).contains("[read-only]"));
}

#[test]
fn command_mode_filter_inverse_and_back() {
    let mut app = online(Role::Operator);
    app.update(Action::Jobs(Ok(vec![
        job(1, JobState::Done),
        job(2, JobState::Held),
        job(3, JobState::AwaitingReview),
    ])));
    app.update(ch('/'));
    typed(&mut app, "held");
    app.update(key(KeyCode::Enter));
    assert_eq!(app.jobs.listing.order.len(), 1);
    assert!(app.breadcrumb().contains(&"/held".to_string()));
    app.update(ch('/'));
    app.update(key(KeyCode::Backspace));
    app.update(key(KeyCode::Backspace));
    app.update(key(KeyCode::Backspace));
    app.update(key(KeyCode::Backspace));
    typed(&mut app, "!held");
    app.update(key(KeyCode::Enter));
    assert_eq!(app.jobs.listing.order.len(), 2, "inverse filter");
    app.update(key(KeyCode::Esc));
    assert_eq!(
        app.jobs.listing.order.len(),
        3,
        "esc clears the filter first"
    );
    // Jumps.
    app.update(ch('w'));
    assert_eq!(app.jobs.selected().unwrap().id, 3);
    app.update(ch('h'));
    assert_eq!(app.jobs.selected().unwrap().id, 2);
    // Sort by patient descending.
    app.update(ch('s'));
    app.update(ch('S'));
    let ids: Vec<i64> = app
        .jobs
        .listing
        .order
        .iter()
        .map(|&i| app.jobs.list[i].id)
        .collect();
    assert_eq!(ids, vec![3, 2, 1]);
    // Commands and their aliases.
    app.update(ch(':'));
    typed(&mut app, "users");
    app.update(key(KeyCode::Enter));
    assert_eq!(app.view(), View::Jobs, "operators cannot open users");
    assert!(app.status.as_ref().unwrap().0.contains("admins"));
    app.update(ch(':'));
    let fx = {
        typed(&mut app, "series");
        app.update(key(KeyCode::Enter))
    };
    assert_eq!(app.view(), View::Series);
    assert_eq!(fx, vec![Effect::Fetch(Fetch::Series { admin: false })]);
    assert_eq!(app.breadcrumb(), vec!["jobs", "series"]);
    app.update(ch(':'));
    typed(&mut app, "quota");
    let fx = app.update(key(KeyCode::Enter));
    assert_eq!(app.view(), View::MyQuota);
    assert_eq!(fx, vec![Effect::Fetch(Fetch::MyQuota)]);
    app.update(ch(':'));
    typed(&mut app, "nonsense");
    app.update(key(KeyCode::Enter));
    assert!(app.status.as_ref().unwrap().0.contains("unknown command"));
    app.update(key(KeyCode::Esc));
    assert_eq!(app.view(), View::Jobs);
    app.update(ch('?'));
    assert!(app.help);
    assert!(screen(&app, 80, 24).contains("help"));
    app.update(key(KeyCode::Esc));
    assert!(!app.help);
    app.update(ch('q'));
    assert!(app.should_quit());
}

#[test]
fn quotas_adjust_inline_and_reset_with_confirmation() {
    let mut app = online(Role::Admin);
    app.push(View::Users, true);
    app.update(Action::Users(Ok(vec![user(Role::Operator)])));
    let fx = app.update(key(KeyCode::Enter));
    assert_eq!(app.view(), View::Quotas);
    assert_eq!(fx, vec![Effect::Fetch(Fetch::Quotas("ana".into()))]);
    app.update(Action::Quotas(
        "ana".into(),
        Ok(QuotaType::ALL.iter().map(|&t| quota(t, 9, 10)).collect()),
    ));
    app.update(ch('a'));
    typed(&mut app, "x");
    assert!(app.update(key(KeyCode::Enter)).is_empty());
    assert!(app.form.as_ref().unwrap().error.is_some(), "not a number");
    app.update(key(KeyCode::Backspace));
    typed(&mut app, "25");
    let fx = app.update(key(KeyCode::Enter));
    assert_eq!(
        fx,
        vec![Effect::Mutate(Mutation::Adjust(
            "ana".into(),
            QuotaType::ApiCallsL3Detect,
            Some(25)
        ))]
    );
    // The change shows at once.
    let mut after: Vec<QuotaStatus> = QuotaType::ALL.iter().map(|&t| quota(t, 9, 10)).collect();
    after[0].limit = 25;
    after[0].overridden = true;
    app.update(Action::Done(Ok(Outcome::Quota(
        "ana".into(),
        QuotaChange {
            quotas: after,
            notes: vec![],
            released: 2,
        },
        "set".into(),
    ))));
    assert_eq!(app.quotas.list[0].limit, 25);
    assert!(screen(&app, 120, 24).contains("25 *"));
    app.update(key(KeyCode::Down));
    app.update(ch('x'));
    assert!(app.update(ch('n')).is_empty(), "no means no");
    app.update(ch('x'));
    assert_eq!(
        app.update(ch('y')),
        vec![Effect::Mutate(Mutation::Reset(
            "ana".into(),
            Some(QuotaType::ApiCallsFullProcess)
        ))]
    );
    app.update(ch('X'));
    assert_eq!(
        app.update(ch('y')),
        vec![Effect::Mutate(Mutation::Reset("ana".into(), None))]
    );
}

#[test]
fn users_disable_needs_confirmation_and_add_user_uses_a_masked_form() {
    let mut app = online(Role::Admin);
    app.push(View::Users, true);
    app.update(Action::Users(Ok(vec![
        user(Role::Operator),
        user(Role::Admin),
    ])));
    app.update(ch('d'));
    assert!(
        app.confirm
            .as_ref()
            .unwrap()
            .question
            .contains("Disable ana")
    );
    assert_eq!(
        app.update(ch('y')),
        vec![Effect::Mutate(Mutation::SetDisabled("ana".into(), true))]
    );
    app.update(ch('a'));
    typed(&mut app, "newbie");
    app.update(key(KeyCode::Tab));
    typed(&mut app, "password123");
    app.update(key(KeyCode::Tab));
    app.update(key(KeyCode::Tab));
    let fx = app.update(key(KeyCode::Enter));
    assert_eq!(
        fx,
        vec![Effect::Mutate(Mutation::AddUser(NewUserSpec {
            username: "newbie".into(),
            password: "password123".into(),
            role: Role::Operator,
            plan: "free".into(),
        }))]
    );
}

#[test]
fn usage_pages_filters_and_exports_csv() {
    let mut app = online(Role::Admin);
    let fx = {
        app.push(View::Usage, true);
        app.update(Action::Redraw)
    };
    assert!(fx.is_empty() || matches!(fx[0], Effect::Fetch(Fetch::Usage(_))));
    app.update(Action::Usage(Ok(UsagePage {
        entries: (5..10).rev().map(entry).collect(),
        next_before_id: Some(5),
    })));
    let fx = app.update(ch('n'));
    let Effect::Fetch(Fetch::Usage(q)) = &fx[0] else {
        panic!("{fx:?}")
    };
    assert_eq!((q.before_id, q.admin), (Some(5), true));
    app.update(Action::Usage(Ok(UsagePage {
        entries: (1..5).rev().map(entry).collect(),
        next_before_id: None,
    })));
    app.update(ch('n'));
    assert!(app.status.as_ref().unwrap().0.contains("last page"));
    let fx = app.update(ch('b'));
    let Effect::Fetch(Fetch::Usage(q)) = &fx[0] else {
        panic!("{fx:?}")
    };
    assert_eq!(q.before_id, None);
    app.update(Action::Usage(Ok(UsagePage {
        entries: (5..10).rev().map(entry).collect(),
        next_before_id: Some(5),
    })));
    // Filters form.
    app.update(ch('f'));
    typed(&mut app, "bob");
    app.update(key(KeyCode::Tab));
    typed(&mut app, "api_calls_full_process");
    app.update(key(KeyCode::Tab));
    typed(&mut app, "consume");
    app.update(key(KeyCode::Tab));
    typed(&mut app, "2023-01-01T00:00:00Z");
    app.update(key(KeyCode::Tab));
    let fx = app.update(key(KeyCode::Enter));
    let Effect::Fetch(Fetch::Usage(q)) = &fx[0] else {
        panic!("{fx:?}")
    };
    assert_eq!(q.username.as_deref(), Some("bob"));
    assert_eq!(q.kind, Some(UsageKind::Consume));
    assert_eq!(q.since_ms, Some(1_672_531_200_000));
    // `/` narrows the rows shown; the CSV has exactly those, quoted where needed.
    app.update(Action::Usage(Ok(UsagePage {
        entries: (5..10).rev().map(entry).collect(),
        next_before_id: None,
    })));
    app.update(ch('/'));
    typed(&mut app, "bob");
    app.update(key(KeyCode::Enter));
    let csv = app.usage.csv();
    assert_eq!(csv.lines().count(), 1 + 3, "{csv}");
    assert!(csv.contains("\"job:9:full, \"\"x\"\"\""), "{csv}");
    app.update(ch('E'));
    app.update(key(KeyCode::Char('u')));
    let fx = app.update(key(KeyCode::Enter));
    assert!(
        matches!(&fx[0], Effect::WriteFile { contents, .. } if contents == &csv),
        "{fx:?}"
    );
}

#[test]
fn versions_step_and_refresh_keeps_the_cursor() {
    let mut app = on_detail(JobState::Done, true);
    let fx = app.update(Action::Detail(7, Ok((detail(7, JobState::Done, 3), log()))));
    assert!(
        fx.contains(&Effect::Fetch(Fetch::Results(7, Some(3)))),
        "{fx:?}"
    );
    app.update(Action::Results(7, Ok(results(3, true))));
    let d = app.detail.as_ref().unwrap();
    assert_eq!(d.effective_version(), Some(3));
    app.update(key(KeyCode::Down));
    // A refresh with the same L3 leaves the cursor where the operator put it.
    app.update(Action::Detail(7, Ok((detail(7, JobState::Done, 3), log()))));
    assert_eq!(app.detail.as_ref().unwrap().cursor, Some(39));
    let fx = app.update(key(KeyCode::Left));
    assert_eq!(app.detail.as_ref().unwrap().effective_version(), Some(2));
    assert!(
        fx.contains(&Effect::Fetch(Fetch::Results(7, Some(2)))),
        "{fx:?}"
    );
    assert!(app.breadcrumb().contains(&"v2".to_string()));
    app.update(key(KeyCode::Right));
    app.update(key(KeyCode::Right));
    assert_eq!(
        app.detail.as_ref().unwrap().version,
        None,
        "past the newest is latest"
    );
}

// ---------------------------------------------------------------- render tests

fn all_views() -> Vec<(&'static str, App, &'static [&'static str])> {
    let mut v: Vec<(&'static str, App, &'static [&'static str])> = Vec::new();
    let mut jobs = online(Role::Operator);
    jobs.update(Action::Jobs(Ok(vec![
        job(1, JobState::Done),
        job(2, JobState::Running),
        job(3, JobState::Held),
        job(4, JobState::AwaitingReview),
    ])));
    v.push(("jobs", jobs, &["jobs", "PAT-004", "awaiting_review"]));
    v.push((
        "job review",
        on_detail(JobState::AwaitingReview, false),
        &["job 7", "sagittal", "cursor slice 40"],
    ));
    v.push((
        "job done",
        on_detail(JobState::Done, true),
        &["job 7", "results v1", "1 to check", "152.25"],
    ));
    let mut series = online(Role::Admin);
    series.push(View::Series, true);
    series.update(Action::Series(Ok((
        vec![SeriesInfo {
            id: 3,
            study_uid: "1.1".into(),
            series_uid: "1.2".into(),
            patient_id: "PAT-009".into(),
            study_date: Some("20260101".into()),
            description: Some("ABD".into()),
            instances: 120,
            bytes: 64 << 20,
            state: SeriesState::Queued,
            held_quota: None,
            reason: None,
            primary: true,
            revision: 0,
            slice_thickness_mm: Some(2.5),
            job_id: Some(7),
            username: "ana".into(),
            created_at_ms: 1_700_000_000_000,
            updated_at_ms: 1_700_000_000_000,
        }],
        Some(vec![QuarantineEntry {
            id: 1,
            username: "ana".into(),
            path: "ana/x.dcm".into(),
            reason: "not DICOM".into(),
            bytes: 10,
            at_ms: 1_700_000_000_000,
        }]),
    ))));
    v.push((
        "series",
        series,
        &["series", "PAT-009", "quarantine", "not DICOM"],
    ));
    let mut mine = online(Role::Operator);
    mine.push(View::MyQuota, true);
    mine.update(Action::MyQuota(Ok((
        QuotaType::ALL.iter().map(|&t| quota(t, 8, 10)).collect(),
        UsagePage {
            entries: vec![entry(2)],
            next_before_id: None,
        },
    ))));
    v.push((
        "my quota",
        mine,
        &["my quota", "api_calls_l3_detect", "80%"],
    ));
    let mut users = online(Role::Admin);
    users.push(View::Users, true);
    users.update(Action::Users(Ok(vec![
        user(Role::Operator),
        user(Role::Admin),
    ])));
    v.push(("users", users, &["users", "ana", "root", "active"]));
    let mut quotas = online(Role::Admin);
    quotas.push(View::Users, true);
    quotas.update(Action::Users(Ok(vec![user(Role::Operator)])));
    quotas.update(key(KeyCode::Enter));
    quotas.update(Action::Quotas(
        "ana".into(),
        Ok(QuotaType::ALL.iter().map(|&t| quota(t, 10, 10)).collect()),
    ));
    v.push(("quotas", quotas, &["quotas of ana", "100%"]));
    let mut usage = online(Role::Admin);
    usage.push(View::Usage, true);
    usage.update(Action::Usage(Ok(UsagePage {
        entries: (1..6).rev().map(entry).collect(),
        next_before_id: None,
    })));
    v.push(("usage", usage, &["usage", "consume", "bob"]));
    let mut stats = online(Role::Admin);
    stats.push(View::Stats, true);
    stats.update(Action::Stats(Ok(QuotaType::ALL
        .iter()
        .map(|&t| QuotaStats {
            quota_type: t,
            total_used: 42,
            per_day: (0..30)
                .map(|d| DayAmount {
                    day: format!("2026-01-{:02}", d + 1),
                    amount: d % 7,
                })
                .collect(),
            near_limit: vec![UserLevel {
                username: "ana".into(),
                used: 9,
                limit: 10,
                percent: 90.0,
            }],
            at_limit: vec![UserLevel {
                username: "bob".into(),
                used: 10,
                limit: 10,
                percent: 100.0,
            }],
        })
        .collect())));
    v.push(("stats", stats, &["stats", "api_calls_l3_detect", "bob"]));
    v
}

/// The segmenter's notes (a psoas cut back) show under the results, for the reviewer.
#[test]
fn segmentation_notes_show_under_the_results() {
    let app = on_detail(JobState::Done, true);
    let text = screen(&app, 200, 60);
    assert!(
        text.contains("check") && text.contains("psoas right cut back to the mirror image"),
        "{text}"
    );
}

#[test]
fn every_view_renders_at_80x24_and_200x60() {
    for (name, app, needles) in all_views() {
        for (w, h) in [(80, 24), (200, 60)] {
            let text = screen(&app, w, h);
            for needle in needles {
                assert!(
                    text.contains(needle),
                    "{name} at {w}x{h} lacks {needle:?}:\n{text}"
                );
            }
            assert!(text.contains("iDoctor"), "{name}: header");
            assert!(
                text.contains("<?> help"),
                "{name} at {w}x{h}: footer\n{text}"
            );
        }
    }
}

#[test]
fn the_footer_and_help_come_from_the_keymap() {
    let mut app = on_detail(JobState::AwaitingReview, false);
    let text = screen(&app, 200, 60);
    assert!(
        text.contains("<↑> L3 up")
            && text.contains("<enter> set L3")
            && text.contains("<c> continue"),
        "{text}"
    );
    app.update(ch('?'));
    let text = screen(&app, 200, 60);
    assert!(
        text.contains("continue a reviewed job") && text.contains("pgup"),
        "{text}"
    );
    let mut o = std::collections::BTreeMap::new();
    o.insert("continue".to_string(), vec!["C".to_string()]);
    let mut app = on_detail(JobState::AwaitingReview, false);
    app.keymap = Keymap::with_overrides(&o).unwrap();
    assert!(screen(&app, 200, 60).contains("<C> continue"));
    assert!(app.update(ch('c')).is_empty());
    assert_eq!(
        app.update(ch('C')),
        vec![Effect::Mutate(Mutation::Continue(7))]
    );
}

#[test]
fn images_render_as_halfblocks() {
    let app = on_detail(JobState::Done, true);
    let mut t = Terminal::new(TestBackend::new(200, 60)).unwrap();
    t.draw(|f| app.draw(f)).unwrap();
    let buf = t.backend().buffer();
    let blocks = buf
        .content()
        .iter()
        .filter(|c| c.symbol() == "▀" || c.symbol() == "▄")
        .count();
    assert!(
        blocks > 1000,
        "only {blocks} halfblock cells: three images expected"
    );
    let text = screen(&app, 200, 60);
    assert!(!text.contains("loading…"), "{text}");
}

#[test]
fn nothing_panics_or_overflows_down_to_40x10() {
    let mut apps = all_views();
    let mut popup = online(Role::Admin);
    popup.update(ch('?'));
    apps.push(("help", popup, &[]));
    let mut confirm = on_detail(JobState::AwaitingReview, false);
    confirm.update(key(KeyCode::Enter));
    apps.push(("confirm", confirm, &[]));
    let mut login = new_app(false);
    login.update(Action::Connected(Err(RpcError {
        kind: ErrorKind::Login,
        message: "expired".into(),
    })));
    apps.push(("login", login, &[]));
    let mut loading = online(Role::Operator);
    loading.push(View::Job(99), true);
    apps.push(("loading", loading, &[]));
    for (name, app, _) in &apps {
        for w in (40..=200).step_by(16) {
            for h in (10..=60).step_by(5) {
                let text = screen(app, w, h);
                assert_eq!(text.lines().count(), h as usize, "{name} {w}x{h}");
            }
        }
        for (w, h) in [(40, 10), (41, 11), (1, 1), (0, 0), (3, 2)] {
            let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
            t.draw(|f| app.draw(f)).unwrap();
        }
    }
    // The 80x24 screen stays usable: the first rows show.
    let text = screen(&apps[0].1, 40, 10);
    assert!(text.contains("iDoctor"));
}
