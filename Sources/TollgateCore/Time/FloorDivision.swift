extension BinaryInteger {
    /// The remainder of a division rounded towards minus infinity: it has the divisor's sign (never negative for a
    /// positive divisor), so that a time before 1970, or before any origin, still falls in the right second, hour or
    /// day. `(-1).floorModulo(1000) == 999`, where `-1 % 1000 == -1`.
    @inlinable
    public func floorModulo(_ divisor: Self) -> Self {
        let remainder = self % divisor
        return remainder != 0 && (remainder < 0) != (divisor < 0) ? remainder + divisor : remainder
    }

    /// The quotient rounded towards minus infinity (`(-1).floorDivided(by: 1000) == -1`, where `-1 / 1000 == 0`): the
    /// quotient that goes with ``floorModulo(_:)``.
    @inlinable
    public func floorDivided(by divisor: Self) -> Self {
        let quotient = self / divisor
        return self % divisor != 0 && (self < 0) != (divisor < 0) ? quotient - 1 : quotient
    }
}
