//! Every keyword keepalived.conf(5) (keepalived 2.2.x) defines, with its status
//! in vipd. The parser consults this table for keywords it does not model, and
//! `docs/CONFIG.md` is checked against it by a test so the two never drift.

/// What vipd does with a keyword.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Parsed into the model and honoured.
    Implemented,
    /// Parsed into the model; the part of vipd that honours it is not built yet.
    Planned,
    /// Recognised and ignored without a warning: it does not change where
    /// traffic goes (mail, SNMP, process tuning...).
    Ignored,
    /// Recognised; vipd will not implement it. A warning names it.
    Unsupported,
}

impl Status {
    /// The word used in docs/CONFIG.md.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Implemented => "implemented",
            Status::Planned => "planned",
            Status::Ignored => "accepted-ignored",
            Status::Unsupported => "unsupported",
        }
    }
}

/// The block a keyword belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Ctx {
    /// Top level.
    Top,
    /// `global_defs`
    GlobalDefs,
    /// `vrrp_script`
    VrrpScript,
    /// `track_file`
    TrackFile,
    /// `vrrp_sync_group`
    SyncGroup,
    /// `vrrp_instance`
    Instance,
    /// `authentication`
    Auth,
    /// `virtual_server`
    VirtualServer,
    /// `real_server`
    RealServer,
    /// Options shared by all checkers.
    Checker,
    /// `HTTP_GET` / `SSL_GET`
    HttpGet,
    /// `url`
    Url,
    /// `SMTP_CHECK`
    Smtp,
    /// `DNS_CHECK`
    Dns,
    /// `MISC_CHECK`
    Misc,
    /// `UDP_CHECK`
    Udp,
    /// `FILE_CHECK`
    File,
    /// `BFD_CHECK`
    Bfd,
}

impl Ctx {
    /// The block's name as written.
    pub fn name(self) -> &'static str {
        match self {
            Ctx::Top => "top level",
            Ctx::GlobalDefs => "global_defs",
            Ctx::VrrpScript => "vrrp_script",
            Ctx::TrackFile => "track_file",
            Ctx::SyncGroup => "vrrp_sync_group",
            Ctx::Instance => "vrrp_instance",
            Ctx::Auth => "authentication",
            Ctx::VirtualServer => "virtual_server",
            Ctx::RealServer => "real_server",
            Ctx::Checker => "checkers (all)",
            Ctx::HttpGet => "HTTP_GET / SSL_GET",
            Ctx::Url => "url",
            Ctx::Smtp => "SMTP_CHECK",
            Ctx::Dns => "DNS_CHECK",
            Ctx::Misc => "MISC_CHECK",
            Ctx::Udp => "UDP_CHECK",
            Ctx::File => "FILE_CHECK",
            Ctx::Bfd => "BFD_CHECK",
        }
    }
}

use Ctx::*;
use Status::*;

/// (block, keyword, status, note)
pub const KEYWORDS: &[(Ctx, &str, Status, &str)] = &[
    // ---- top level
    (Top, "global_defs", Implemented, ""),
    (
        Top,
        "static_ipaddress",
        Implemented,
        "added at start with `ip addr replace`, removed at stop, shown in `vipd status`",
    ),
    (
        Top,
        "static_routes",
        Implemented,
        "added with `ip route replace` (options as iproute2 reads them), removed at stop",
    ),
    (
        Top,
        "static_rules",
        Implemented,
        "added with `ip rule add`, removed at stop",
    ),
    (Top, "vrrp_script", Implemented, ""),
    (Top, "vrrp_sync_group", Implemented, ""),
    (Top, "vrrp_instance", Implemented, ""),
    (Top, "virtual_server_group", Implemented, "ADDR PORT, FIRST-LAST PORT and ADDR/LEN PORT lines: one data-plane service each (at most 1024 per group); fwmark lines are not served and named in a warning (XDP sees packets before netfilter marks them); a group of fwmarks only is refused"),
    (Top, "virtual_server", Implemented, ""),
    (
        Top,
        "include",
        Implemented,
        "also includer/includem/includew/includeb/includea; glob patterns; cycles are errors",
    ),
    (
        Top,
        "net_namespace",
        Unsupported,
        "run vipd inside the namespace instead",
    ),
    (Top, "net_namespace_ipvs", Unsupported, ""),
    (Top, "namespace_with_ipsets", Ignored, ""),
    (Top, "instance", Ignored, ""),
    (Top, "use_pid_dir", Ignored, ""),
    (Top, "linkbeat_use_polling", Ignored, ""),
    (Top, "child_wait_time", Ignored, ""),
    (Top, "linkbeat_interfaces", Ignored, ""),
    (Top, "track_group", Unsupported, ""),
    (Top, "track_file", Implemented, "followed by FILE_CHECK (vrrp_instance's track_file is not supported)"),
    (Top, "vrrp_track_file", Implemented, "old name of track_file"),
    (TrackFile, "file", Implemented, "read each second (keepalived: on inotify events); a missing, empty or non-numeric file reads as 0"),
    (TrackFile, "weight", Implemented, "-254..254, default 1; `reverse` negates"),
    (TrackFile, "init_file", Implemented, "written at start when the file is missing (always with `overwrite`)"),
    (Top, "vrrp_track_process", Unsupported, ""),
    (Top, "bfd_instance", Unsupported, ""),
    (Top, "garp_group", Unsupported, ""),
    (Top, "interface_up_down_delays", Unsupported, ""),
    (
        Top,
        "SSL",
        Unsupported,
        "SSL_GET uses the system's defaults",
    ),
    // ---- global_defs
    (GlobalDefs, "router_id", Ignored, "names the node in mail and SNMP, which vipd does not send"),
    (
        GlobalDefs,
        "notification_email",
        Ignored,
        "kept in the model; vipd sends no mail",
    ),
    (
        GlobalDefs,
        "notification_email_from",
        Ignored,
        "kept in the model",
    ),
    (GlobalDefs, "smtp_server", Ignored, "kept in the model"),
    (
        GlobalDefs,
        "smtp_connect_timeout",
        Ignored,
        "kept in the model",
    ),
    (GlobalDefs, "smtp_helo_name", Ignored, ""),
    (GlobalDefs, "smtp_alert", Ignored, ""),
    (GlobalDefs, "smtp_alert_vrrp", Ignored, ""),
    (GlobalDefs, "smtp_alert_checker", Ignored, ""),
    (GlobalDefs, "no_email_faults", Ignored, ""),
    (GlobalDefs, "checker_log_all_failures", Ignored, "vipd logs every failed check attempt anyway"),
    (GlobalDefs, "vrrp_mcast_group4", Implemented, ""),
    (GlobalDefs, "vrrp_mcast_group6", Implemented, "the group of IPv6 instances (default ff02::12)"),
    (GlobalDefs, "default_interface", Implemented, ""),
    (GlobalDefs, "vrrp_version", Implemented, ""),
    (GlobalDefs, "vrrp_garp_master_delay", Implemented, ""),
    (GlobalDefs, "vrrp_garp_master_repeat", Implemented, ""),
    (GlobalDefs, "vrrp_garp_master_refresh", Implemented, ""),
    (
        GlobalDefs,
        "vrrp_garp_master_refresh_repeat",
        Implemented,
        "",
    ),
    (
        GlobalDefs,
        "vrrp_garp_lower_prio_delay",
        Planned,
        "parsed; vipd's VRRP warns that it is ignored",
    ),
    (GlobalDefs, "vrrp_garp_lower_prio_repeat", Implemented, ""),
    (GlobalDefs, "vrrp_garp_interval", Implemented, "gratuitous ARPs on one interface at least this far apart, whichever instance sends them (keepalived also collapses a burst's repeats; vipd sends them all)"),
    (GlobalDefs, "vrrp_gna_interval", Implemented, "unsolicited neighbour advertisements of IPv6 VIPs on one interface at least this far apart (their own schedule, beside vrrp_garp_interval's)"),
    (GlobalDefs, "vrrp_min_garp", Implemented, ""),
    (GlobalDefs, "vrrp_lower_prio_no_advert", Implemented, ""),
    (GlobalDefs, "vrrp_higher_prio_send_advert", Implemented, ""),
    (GlobalDefs, "vrrp_down_timer_adverts", Implemented, ""),
    (
        GlobalDefs,
        "vrrp_strict",
        Planned,
        "parsed; vipd's VRRP warns that it is ignored",
    ),
    (GlobalDefs, "vrrp_skip_check_adv_addr", Implemented, ""),
    (GlobalDefs, "vrrp_check_unicast_src", Implemented, ""),
    (GlobalDefs, "vrrp_startup_delay", Implemented, ""),
    (GlobalDefs, "enable_script_security", Implemented, ""),
    (GlobalDefs, "script_user", Implemented, ""),
    (GlobalDefs, "lvs_flush", Ignored, "vipd's data-plane tables start empty anyway"),
    (GlobalDefs, "lvs_flush_on_stop", Ignored, ""),
    (
        GlobalDefs,
        "lvs_timeouts",
        Implemented,
        "tcp, tcpfin, udp: the connection table's idle timeouts",
    ),
    (
        GlobalDefs,
        "lvs_sync_daemon",
        Implemented,
        "connection sharing: interface, id, port, ttl, group, maxlen; both ways, authenticated",
    ),
    (
        GlobalDefs,
        "vipd_announce",
        Implemented,
        "vipd's own (keepalived warns and ignores it): active-active directors behind ECMP; the VIPs this director can serve are addresses on a TUN device of this name that lives as long as vipd, for a routing daemon to announce (docs/OPERATIONS.md)",
    ),
    (GlobalDefs, "vrrp_garp_extra_if", Unsupported, ""),
    (GlobalDefs, "vrrp_iptables", Unsupported, ""),
    (GlobalDefs, "vrrp_ipsets", Unsupported, ""),
    (GlobalDefs, "nftables", Unsupported, ""),
    (GlobalDefs, "nftables_priority", Unsupported, ""),
    (GlobalDefs, "nftables_counters", Unsupported, ""),
    (GlobalDefs, "nftables_ifindex", Unsupported, ""),
    (GlobalDefs, "nftables_ipvs", Unsupported, ""),
    (GlobalDefs, "nftables_ipvs_priority", Unsupported, ""),
    (GlobalDefs, "nftables_ipvs_start_fwmark", Unsupported, ""),
    (GlobalDefs, "disable_local_igmp", Ignored, ""),
    (GlobalDefs, "vrrp_notify_priority_changes", Ignored, ""),
    (GlobalDefs, "max_auto_priority", Ignored, ""),
    (GlobalDefs, "min_auto_priority_delay", Ignored, ""),
    (GlobalDefs, "vrrp_priority", Ignored, ""),
    (GlobalDefs, "checker_priority", Ignored, ""),
    (GlobalDefs, "bfd_priority", Ignored, ""),
    (GlobalDefs, "vrrp_no_swap", Ignored, ""),
    (GlobalDefs, "checker_no_swap", Ignored, ""),
    (GlobalDefs, "bfd_no_swap", Ignored, ""),
    (GlobalDefs, "vrrp_cpu_affinity", Ignored, ""),
    (GlobalDefs, "checker_cpu_affinity", Ignored, ""),
    (GlobalDefs, "bfd_cpu_affinity", Ignored, ""),
    (GlobalDefs, "vrrp_rt_priority", Ignored, ""),
    (GlobalDefs, "checker_rt_priority", Ignored, ""),
    (GlobalDefs, "bfd_rt_priority", Ignored, ""),
    (GlobalDefs, "vrrp_rlimit_rttime", Ignored, ""),
    (GlobalDefs, "checker_rlimit_rttime", Ignored, ""),
    (GlobalDefs, "bfd_rlimit_rttime", Ignored, ""),
    (GlobalDefs, "snmp_socket", Ignored, ""),
    (GlobalDefs, "enable_snmp_vrrp", Ignored, ""),
    (GlobalDefs, "enable_snmp_keepalived", Ignored, ""),
    (GlobalDefs, "enable_snmp_checker", Ignored, ""),
    (GlobalDefs, "enable_snmp_rfc", Ignored, ""),
    (GlobalDefs, "enable_snmp_rfcv2", Ignored, ""),
    (GlobalDefs, "enable_snmp_rfcv3", Ignored, ""),
    (GlobalDefs, "enable_traps", Ignored, ""),
    (GlobalDefs, "enable_dbus", Ignored, ""),
    (GlobalDefs, "dbus_service_name", Ignored, ""),
    (GlobalDefs, "notify_fifo", Unsupported, ""),
    (GlobalDefs, "notify_fifo_script", Unsupported, ""),
    (GlobalDefs, "vrrp_notify_fifo", Unsupported, ""),
    (GlobalDefs, "vrrp_notify_fifo_script", Unsupported, ""),
    (GlobalDefs, "lvs_notify_fifo", Unsupported, ""),
    (GlobalDefs, "lvs_notify_fifo_script", Unsupported, ""),
    (
        GlobalDefs,
        "fifo_write_vrrp_states_on_reload",
        Unsupported,
        "",
    ),
    (GlobalDefs, "dynamic_interfaces", Ignored, ""),
    (GlobalDefs, "vrrp_netlink_cmd_rcv_bufs", Ignored, ""),
    (GlobalDefs, "vrrp_netlink_cmd_rcv_bufs_force", Ignored, ""),
    (GlobalDefs, "vrrp_netlink_monitor_rcv_bufs", Ignored, ""),
    (
        GlobalDefs,
        "vrrp_netlink_monitor_rcv_bufs_force",
        Ignored,
        "",
    ),
    (GlobalDefs, "lvs_netlink_cmd_rcv_bufs", Ignored, ""),
    (GlobalDefs, "lvs_netlink_cmd_rcv_bufs_force", Ignored, ""),
    (GlobalDefs, "lvs_netlink_monitor_rcv_bufs", Ignored, ""),
    (
        GlobalDefs,
        "lvs_netlink_monitor_rcv_bufs_force",
        Ignored,
        "",
    ),
    (GlobalDefs, "process_monitor_rcv_bufs", Ignored, ""),
    (GlobalDefs, "process_monitor_rcv_bufs_force", Ignored, ""),
    (GlobalDefs, "vrrp_rx_bufs_policy", Ignored, ""),
    (GlobalDefs, "vrrp_rx_bufs_multiplier", Ignored, ""),
    (GlobalDefs, "rs_init_notifies", Ignored, ""),
    (GlobalDefs, "no_checker_emails", Ignored, ""),
    (GlobalDefs, "umask", Ignored, ""),
    (GlobalDefs, "log_unknown_vrids", Ignored, ""),
    (GlobalDefs, "vmac_prefix", Unsupported, ""),
    (GlobalDefs, "vmac_addr_prefix", Unsupported, ""),
    (GlobalDefs, "random_seed", Ignored, ""),
    (GlobalDefs, "reload_check_config", Ignored, ""),
    (GlobalDefs, "include_check", Ignored, ""),
    (GlobalDefs, "reload_time_file", Ignored, ""),
    (GlobalDefs, "reload_repeat", Ignored, ""),
    (GlobalDefs, "reload_file", Ignored, ""),
    (GlobalDefs, "data_use_instance", Ignored, ""),
    (GlobalDefs, "tmp_config_directory", Ignored, ""),
    (GlobalDefs, "config_save_dir", Ignored, ""),
    (GlobalDefs, "process_names", Ignored, ""),
    (GlobalDefs, "process_name", Ignored, ""),
    (GlobalDefs, "vrrp_process_name", Ignored, ""),
    (GlobalDefs, "checker_process_name", Ignored, ""),
    (GlobalDefs, "bfd_process_name", Ignored, ""),
    (GlobalDefs, "startup_script", Unsupported, ""),
    (GlobalDefs, "startup_script_timeout", Unsupported, ""),
    (GlobalDefs, "shutdown_script", Unsupported, ""),
    (GlobalDefs, "shutdown_script_timeout", Unsupported, ""),
    (GlobalDefs, "net_namespace", Unsupported, ""),
    (GlobalDefs, "net_namespace_ipvs", Unsupported, ""),
    (GlobalDefs, "namespace_with_ipsets", Ignored, ""),
    (GlobalDefs, "instance", Ignored, ""),
    (GlobalDefs, "use_pid_dir", Ignored, ""),
    (GlobalDefs, "linkbeat_use_polling", Ignored, ""),
    (GlobalDefs, "child_wait_time", Ignored, ""),
    (GlobalDefs, "lvs_id", Ignored, "keepalived 1.2.x"),
    // ---- vrrp_script
    (VrrpScript, "script", Implemented, ""),
    (VrrpScript, "interval", Implemented, ""),
    (VrrpScript, "timeout", Implemented, ""),
    (VrrpScript, "weight", Implemented, "`weight N reverse` too"),
    (VrrpScript, "rise", Implemented, ""),
    (VrrpScript, "fall", Implemented, ""),
    (VrrpScript, "user", Implemented, ""),
    (VrrpScript, "init_fail", Implemented, ""),
    // ---- vrrp_sync_group
    (SyncGroup, "group", Implemented, ""),
    (SyncGroup, "track_interface", Implemented, ""),
    (SyncGroup, "track_script", Implemented, ""),
    (SyncGroup, "track_file", Unsupported, ""),
    (SyncGroup, "track_process", Unsupported, ""),
    (SyncGroup, "track_bfd", Unsupported, ""),
    (SyncGroup, "notify_master", Implemented, ""),
    (SyncGroup, "notify_backup", Implemented, ""),
    (SyncGroup, "notify_fault", Implemented, ""),
    (SyncGroup, "notify_stop", Implemented, ""),
    (SyncGroup, "notify", Implemented, ""),
    (SyncGroup, "notify_deleted", Ignored, ""),
    (SyncGroup, "notify_priority_changes", Ignored, ""),
    (SyncGroup, "smtp_alert", Ignored, "mail alerts: vipd sends no mail"),
    (
        SyncGroup,
        "global_tracking",
        Ignored,
        "deprecated in keepalived",
    ),
    (SyncGroup, "sync_group_tracking_weight", Ignored, ""),
    // ---- vrrp_instance
    (
        Instance,
        "state",
        Implemented,
        "MASTER|BACKUP; anything else is an error",
    ),
    (
        Instance,
        "interface",
        Implemented,
        "a missing interface is a warning in `check`",
    ),
    (
        Instance,
        "virtual_router_id",
        Implemented,
        "1..255, required",
    ),
    (Instance, "priority", Implemented, "1..255"),
    (
        Instance,
        "advert_int",
        Implemented,
        "sub-second values allowed",
    ),
    (Instance, "version", Implemented, "2|3"),
    (Instance, "authentication", Implemented, ""),
    (Instance, "virtual_ipaddress", Implemented, ""),
    (Instance, "virtual_ipaddress_excluded", Implemented, ""),
    (
        Instance,
        "virtual_routes",
        Planned,
        "parsed; not applied yet",
    ),
    (
        Instance,
        "virtual_rules",
        Planned,
        "parsed; not applied yet",
    ),
    (Instance, "mcast_src_ip", Implemented, ""),
    (Instance, "unicast_src_ip", Implemented, ""),
    (Instance, "unicast_peer", Implemented, ""),
    (
        Instance,
        "mcast_dst_ip",
        Planned,
        "parsed; vipd's VRRP warns that it is ignored",
    ),
    (
        Instance,
        "unicast_ttl",
        Planned,
        "parsed; vipd's VRRP warns that it is ignored",
    ),
    (
        Instance,
        "nopreempt",
        Implemented,
        "cleared with a warning when state is MASTER",
    ),
    (Instance, "preempt", Implemented, "the default; accepted"),
    (Instance, "preempt_delay", Implemented, ""),
    (
        Instance,
        "accept",
        Planned,
        "parsed; vipd's VRRP warns that it is ignored",
    ),
    (
        Instance,
        "no_accept",
        Planned,
        "parsed; vipd's VRRP warns that it is ignored",
    ),
    (Instance, "dont_track_primary", Implemented, ""),
    (Instance, "track_interface", Implemented, ""),
    (Instance, "track_script", Implemented, ""),
    (Instance, "garp_master_delay", Implemented, ""),
    (Instance, "garp_master_repeat", Implemented, ""),
    (Instance, "garp_master_refresh", Implemented, ""),
    (Instance, "garp_master_refresh_repeat", Implemented, ""),
    (
        Instance,
        "garp_lower_prio_delay",
        Planned,
        "parsed; vipd's VRRP warns that it is ignored",
    ),
    (Instance, "garp_lower_prio_repeat", Implemented, ""),
    (Instance, "down_timer_adverts", Implemented, ""),
    (Instance, "lower_prio_no_advert", Implemented, ""),
    (Instance, "higher_prio_send_advert", Implemented, ""),
    (Instance, "skip_check_adv_addr", Implemented, ""),
    (
        Instance,
        "strict_mode",
        Planned,
        "parsed; vipd's VRRP warns that it is ignored",
    ),
    (Instance, "check_unicast_src", Implemented, ""),
    (
        Instance,
        "promote_secondaries",
        Planned,
        "parsed; vipd's VRRP warns that it is ignored",
    ),
    (Instance, "notify_master", Implemented, ""),
    (Instance, "notify_backup", Implemented, ""),
    (Instance, "notify_fault", Implemented, ""),
    (Instance, "notify_stop", Implemented, ""),
    (Instance, "notify", Implemented, ""),
    (Instance, "notify_master_rx_lower_pri", Implemented, ""),
    (Instance, "smtp_alert", Ignored, "mail alerts: vipd sends no mail"),
    (Instance, "notify_deleted", Ignored, ""),
    (Instance, "notify_priority_changes", Ignored, ""),
    (Instance, "debug", Ignored, ""),
    (Instance, "kernel_rx_buf_size", Ignored, ""),
    (Instance, "linkbeat_use_polling", Ignored, ""),
    (
        Instance,
        "native_ipv6",
        Ignored,
        "the addresses decide the family",
    ),
    (Instance, "track_src_ip", Ignored, ""),
    (Instance, "unicast_fault_no_peer", Ignored, ""),
    (Instance, "old_unicast_checksum", Unsupported, ""),
    (Instance, "use_vmac", Unsupported, ""),
    (Instance, "use_vmac_addr", Unsupported, ""),
    (Instance, "vmac_xmit_base", Unsupported, ""),
    (Instance, "use_ipvlan", Unsupported, ""),
    (Instance, "vrf", Unsupported, ""),
    (Instance, "track_file", Unsupported, ""),
    (Instance, "track_process", Unsupported, ""),
    (Instance, "track_bfd", Unsupported, ""),
    (Instance, "garp_extra_if", Unsupported, ""),
    (
        Instance,
        "lvs_sync_daemon_interface",
        Implemented,
        "keepalived 1.2.x: read as `lvs_sync_daemon IFACE INSTANCE`, with a warning",
    ),
    // ---- authentication
    (
        Auth,
        "auth_type",
        Implemented,
        "PASS|AH; anything else is an error",
    ),
    (
        Auth,
        "auth_pass",
        Implemented,
        "longer than 8 characters: truncated with a warning",
    ),
    // ---- virtual_server
    (
        VirtualServer,
        "lvs_sched",
        Implemented,
        "rr wrr lc wlc sh mh dh sed nq fo ovf run; lblc lblcr twos are refused with what to use instead; unknown is an error",
    ),
    (
        VirtualServer,
        "lb_algo",
        Implemented,
        "old spelling of lvs_sched: warning",
    ),
    (
        VirtualServer,
        "lvs_method",
        Implemented,
        "NAT (the default, as keepalived's), DR, TUN; TUN `type gue|gre` is refused (IP-in-IP only); unknown is an error",
    ),
    (
        VirtualServer,
        "lb_kind",
        Implemented,
        "old spelling of lvs_method: warning",
    ),
    (
        VirtualServer,
        "protocol",
        Implemented,
        "TCP|UDP|SCTP; unknown is an error",
    ),
    (VirtualServer, "delay_loop", Implemented, ""),
    (
        VirtualServer,
        "persistence_timeout",
        Implemented,
        "`0` (keepalived 1.2.x) means off, with a warning",
    ),
    (VirtualServer, "persistence_granularity", Implemented, ""),
    (VirtualServer, "persistence_engine", Unsupported, ""),
    (VirtualServer, "ha_suspend", Implemented, ""),
    (VirtualServer, "alpha", Implemented, ""),
    (VirtualServer, "omega", Implemented, ""),
    (VirtualServer, "quorum", Implemented, ""),
    (VirtualServer, "hysteresis", Implemented, ""),
    (VirtualServer, "quorum_up", Implemented, ""),
    (VirtualServer, "quorum_down", Implemented, ""),
    (VirtualServer, "inhibit_on_failure", Implemented, ""),
    (VirtualServer, "sorry_server", Implemented, ""),
    (VirtualServer, "sorry_server_inhibit", Implemented, ""),
    (VirtualServer, "sorry_server_lvs_method", Implemented, "NAT, DR or TUN; default: the service's"),
    (VirtualServer, "virtualhost", Implemented, ""),
    (VirtualServer, "ip_family", Ignored, "vipd takes the family from the addresses"),
    (VirtualServer, "smtp_alert", Ignored, "mail alerts: vipd sends no mail"),
    (
        VirtualServer,
        "connect_timeout",
        Implemented,
        "default for checkers",
    ),
    (VirtualServer, "retry", Implemented, "default for checkers"),
    (
        VirtualServer,
        "delay_before_retry",
        Implemented,
        "default for checkers",
    ),
    (VirtualServer, "warmup", Implemented, "default for checkers"),
    (VirtualServer, "real_server", Implemented, ""),
    (VirtualServer, "flag-1", Implemented, "sh and mh: as sh-fallback / mh-fallback"),
    (VirtualServer, "flag-2", Implemented, "sh and mh: as sh-port / mh-port"),
    (VirtualServer, "flag-3", Ignored, "IPVS's sh and mh do not read it"),
    (VirtualServer, "sh-port", Implemented, "lb_algo sh: hash the client's port with its address"),
    (VirtualServer, "sh-fallback", Implemented, "lb_algo sh: a client whose real server is quiesced or overloaded gets another (without it: none, as IPVS)"),
    (VirtualServer, "mh-port", Implemented, "lb_algo mh: hash the client's port with its address (without it mh hashes the address only, as IPVS)"),
    (VirtualServer, "mh-fallback", Implemented, "lb_algo mh: as sh-fallback"),
    (VirtualServer, "ops", Implemented, "UDP: every datagram scheduled on its own, no connection entry (IPVS's one-packet scheduling); ignored with a warning for TCP, as IPVS does"),
    (VirtualServer, "snmp_name", Ignored, ""),
    (
        VirtualServer,
        "nat_mask",
        Ignored,
        "keepalived 1.2.x: warning",
    ),
    // ---- real_server
    (
        RealServer,
        "weight",
        Implemented,
        "0..65535; negative is an error",
    ),
    (RealServer, "lvs_method", Implemented, "NAT, DR or TUN: this real server's own (IPVS forwards each real server its way)"),
    (RealServer, "notify_up", Implemented, ""),
    (RealServer, "notify_down", Implemented, ""),
    (RealServer, "uthreshold", Implemented, "checked each second against the connection counts: an overloaded real server takes no new connection"),
    (RealServer, "lthreshold", Implemented, "default three quarters of uthreshold (IPVS)"),
    (RealServer, "smtp_alert", Ignored, "mail alerts: vipd sends no mail"),
    (RealServer, "virtualhost", Implemented, ""),
    (RealServer, "alpha", Implemented, ""),
    (RealServer, "connect_timeout", Implemented, ""),
    (RealServer, "retry", Implemented, ""),
    (RealServer, "delay_before_retry", Implemented, ""),
    (RealServer, "warmup", Implemented, ""),
    (RealServer, "delay_loop", Implemented, ""),
    (RealServer, "inhibit_on_failure", Implemented, ""),
    (RealServer, "snmp_name", Ignored, ""),
    (RealServer, "TCP_CHECK", Implemented, ""),
    (RealServer, "HTTP_GET", Implemented, ""),
    (RealServer, "SSL_GET", Implemented, ""),
    (RealServer, "SMTP_CHECK", Implemented, "banner 220, HELO answered 250, QUIT; port 25 unless connect_port"),
    (RealServer, "DNS_CHECK", Implemented, ""),
    (RealServer, "MISC_CHECK", Implemented, ""),
    (RealServer, "UDP_CHECK", Implemented, ""),
    (RealServer, "PING_CHECK", Implemented, ""),
    (
        RealServer,
        "FILE_CHECK",
        Implemented,
        "weight 0: a non-zero value in the file takes the real server down (`reverse`: zero does); else its weight becomes weight + value x weight (at least 0)",
    ),
    (
        RealServer,
        "BFD_CHECK",
        Planned,
        "parsed; needs bfd_instance, which is unsupported",
    ),
    // ---- every checker
    (Checker, "connect_ip", Implemented, ""),
    (Checker, "connect_port", Implemented, ""),
    (Checker, "bindto", Implemented, ""),
    (
        Checker,
        "bind_if",
        Implemented,
        "SO_BINDTODEVICE; the scope of a link-local bindto / connect_ip",
    ),
    (Checker, "bind_port", Implemented, ""),
    (Checker, "fwmark", Unsupported, "checks are not marked"),
    (Checker, "connect_timeout", Implemented, ""),
    (Checker, "retry", Implemented, ""),
    (
        Checker,
        "nb_get_retry",
        Implemented,
        "keepalived 1.2.x spelling of retry: warning",
    ),
    (Checker, "delay_before_retry", Implemented, ""),
    (Checker, "warmup", Implemented, ""),
    (Checker, "delay_loop", Implemented, ""),
    (Checker, "alpha", Implemented, ""),
    (Checker, "log_all_failures", Ignored, "vipd logs every failed check attempt anyway"),
    // ---- HTTP_GET / SSL_GET
    (HttpGet, "url", Implemented, ""),
    (HttpGet, "http_protocol", Implemented, ""),
    (HttpGet, "virtualhost", Implemented, ""),
    (HttpGet, "fast_recovery", Ignored, "vipd fetches every url of a checker in each probe, back to back: what fast_recovery asks for at start and while down is vipd's way always"),
    (HttpGet, "enable_sni", Implemented, "SSL_GET"),
    (
        HttpGet,
        "verify_cert",
        Implemented,
        "vipd's: SSL_GET verifies the server's certificate (against CA_FILE if given, else the system's roots); off by default as in keepalived",
    ),
    (Url, "path", Implemented, ""),
    (Url, "digest", Implemented, "32 hex digits (MD5)"),
    (
        Url,
        "status_code",
        Implemented,
        "codes and ranges, e.g. 200-299 503",
    ),
    (Url, "virtualhost", Implemented, ""),
    (Url, "regex", Planned, "parsed; not matched yet"),
    (Url, "regex_no_match", Planned, ""),
    (Url, "regex_options", Unsupported, ""),
    (Url, "regex_stack", Unsupported, ""),
    (Url, "regex_min_offset", Unsupported, ""),
    (Url, "regex_max_offset", Unsupported, ""),
    // ---- other checkers
    (Smtp, "helo_name", Implemented, "default smtpchecker.keepalived.org"),
    (
        Smtp,
        "host",
        Implemented,
        "keepalived 1.x style: each host block becomes its own SMTP_CHECK (with a warning saying so)",
    ),
    (Dns, "type", Implemented, ""),
    (Dns, "name", Implemented, ""),
    (Misc, "misc_path", Implemented, ""),
    (Misc, "misc_timeout", Implemented, ""),
    (Misc, "misc_dynamic", Implemented, ""),
    (Misc, "user", Implemented, ""),
    (Udp, "payload", Implemented, ""),
    (Udp, "require_reply", Implemented, ""),
    (Udp, "min_reply_length", Implemented, ""),
    (Udp, "max_reply_length", Implemented, ""),
    (File, "track_file", Implemented, "the track_file to follow"),
    (File, "dynamic", Unsupported, "keepalived 2.2.7 does not accept it either"),
    (File, "weight", Implemented, "default: the track_file's weight and reverse"),
    (Bfd, "name", Planned, ""),
];

/// Looks a keyword up in a block.
pub fn lookup(ctx: Ctx, keyword: &str) -> Option<(Status, &'static str)> {
    KEYWORDS
        .iter()
        .find(|(c, k, _, _)| *c == ctx && *k == keyword)
        .map(|(_, _, s, n)| (*s, *n))
}

/// The known keyword of `ctx` closest to `word`, if it is close enough to be a
/// likely typo.
pub fn suggest(ctx: Ctx, word: &str) -> Option<&'static str> {
    let mut best: Option<(usize, &'static str)> = None;
    let ctxs: &[Ctx] = match ctx {
        Ctx::Smtp | Ctx::Dns | Ctx::Misc | Ctx::Udp | Ctx::HttpGet => &[Ctx::Checker],
        _ => &[],
    };
    for (c, k, _, _) in KEYWORDS {
        if *c != ctx && !ctxs.contains(c) {
            continue;
        }
        let d = edit_distance(word, k);
        if d <= (k.len() / 3).max(1) && best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, k));
        }
    }
    best.map(|(_, k)| k)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().take(64).collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != cb))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The keyword table as Markdown, one section per block (docs/CONFIG.md embeds
/// it; a test keeps the two equal).
pub fn markdown() -> String {
    let mut out = String::new();
    let mut last: Option<Ctx> = None;
    for (ctx, kw, status, note) in KEYWORDS {
        if last != Some(*ctx) {
            if last.is_some() {
                out.push('\n');
            }
            out.push_str(&format!(
                "### {}\n\n| keyword | status | note |\n| --- | --- | --- |\n",
                ctx.name()
            ));
            last = Some(*ctx);
        }
        out.push_str(&format!(
            "| `{kw}` | {} | {} |\n",
            status.as_str(),
            note.replace('|', "\\|")
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions() {
        assert_eq!(suggest(Ctx::Instance, "priorty"), Some("priority"));
        assert_eq!(suggest(Ctx::Instance, "zzz"), None);
        assert_eq!(suggest(Ctx::Top, "virtual_servr"), Some("virtual_server"));
    }

    #[test]
    fn no_duplicates() {
        for (i, (c, k, _, _)) in KEYWORDS.iter().enumerate() {
            assert!(
                !KEYWORDS[..i]
                    .iter()
                    .any(|(c2, k2, _, _)| c2 == c && k2 == k),
                "{k} twice in {}",
                c.name()
            );
        }
    }
}
