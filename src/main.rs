fn main() {
    println!("{}", cognigy_warden::USER_AGENT);
}
