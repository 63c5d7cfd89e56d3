/// Tollgate's version, as `tollgate --version` prints it and `tollgate_build_info` labels it.
public enum TollgateVersion {
    public static let current = "0.19.0"
}
